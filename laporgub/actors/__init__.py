"""The actors of the service, one module each.

Pipeline: ``modem.ModemReader`` -> ``registry.TicketRegistry`` -> ``keyword_filter.KeywordFilter``
-> ``dispatcher.GroupDispatcher`` (one per Telegram destination).
Beside it: ``responder.Responder`` (PICs' replies and commands), ``monitor.Monitor``
(reminders, escalation, digests, data retention), ``reporter.ReportGenerator``
(the monthly report), ``webhooks.WebhookSender`` (the website's signed webhooks) and
``api_server.ApiServer`` (the website HTTP API, served by uvicorn). Wiring is in
:mod:`laporgub.app`, supervision in :mod:`laporgub.supervisor`, what they share in
:mod:`laporgub.actors._base`, their names in :mod:`laporgub.actor_names`.
"""
