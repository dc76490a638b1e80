"""The actors of the pipeline, one module each.

``modem.ModemReader`` -> ``registry.TicketRegistry`` -> ``keyword_filter.KeywordFilter``
-> ``dispatcher.GroupDispatcher`` (one per Telegram destination). Wiring is in
:mod:`laporgub.app`, supervision in :mod:`laporgub.supervisor`.
"""
