"""Every text a citizen, PIC or leader reads is a template in one place.

The ``[texts]`` keys of config.toml (an operator may reword them) and the fixed
texts of laporgub/data/texts.toml, both filled in by laporgub/render.py. These
tests list every template with its placeholders (a new or removed text, or a
placeholder changed, shows here), render each one, check that the code names
only texts that exist, and scan the package's source for Indonesian sentences
written anywhere else.
"""

from __future__ import annotations

import ast
import re
import string
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from laporgub import render
from laporgub.config import TEXT_VARIABLES

PACKAGE = Path(render.__file__).parent

#: Every template: ``texts.<key>`` for the [texts] keys of config.toml (the placeholders it may use),
#: the dotted key of laporgub/data/texts.toml for the fixed texts (the placeholders it uses; for a list
#: of column headings, those of all its items).
TEMPLATES: dict[str, frozenset[str]] = {
    "admin.chat_migrated": frozenset({"chat_id", "destination"}),
    "admin.chat_unreachable": frozenset({"chat_id", "destination", "error"}),
    "admin.modem_back": frozenset({"failures", "modem"}),
    "admin.modem_failing": frozenset({"failures", "modem", "port", "reason"}),
    "admin.reload_rejected": frozenset({"problems"}),
    "admin.reload_restart": frozenset({"parts"}),
    "admin.sms_daily_cap": frozenset({"limit"}),
    "admin.sms_not_mobile": frozenset({"to"}),
    "admin.sms_number_cap": frozenset({"limit", "to"}),
    "api.category": frozenset({"category"}),
    "api.incident_notice": frozenset({"label", "reports"}),
    "api.location": frozenset({"location"}),
    "api.received": frozenset({"ticket"}),
    "api.service": frozenset({"examples", "group"}),
    "api.service_examples": frozenset({"keywords"}),
    "chat.already_closed": frozenset({"ticket"}),
    "chat.already_in_group": frozenset({"group", "ticket"}),
    "chat.closed": frozenset({"agency", "pic", "tail", "ticket"}),
    "chat.closed_no_sms": frozenset(),
    "chat.closed_sms": frozenset(),
    "chat.default_closing": frozenset(),
    "chat.empty_response": frozenset({"usage"}),
    "chat.failed": frozenset(),
    "chat.incident_already_closed": frozenset({"label"}),
    "chat.incident_closed": frozenset({"agency", "label", "pic", "sent", "tickets"}),
    "chat.incident_not_found": frozenset({"incident"}),
    "chat.incident_responded": frozenset({"agency", "label", "pic", "reports", "sent"}),
    "chat.incident_state_closed": frozenset(),
    "chat.incident_state_expired": frozenset(),
    "chat.incident_state_open": frozenset(),
    "chat.merge_same": frozenset({"source", "target"}),
    "chat.merge_spam": frozenset({"ticket"}),
    "chat.merge_two": frozenset({"usage"}),
    "chat.merged": frozenset({"label", "moved", "pic", "reports"}),
    "chat.name_ticket": frozenset({"hint", "usage"}),
    "chat.name_ticket_several": frozenset({"tickets"}),
    "chat.no_group": frozenset(),
    "chat.not_registered": frozenset(),
    "chat.other_group": frozenset({"groups", "ticket"}),
    "chat.ref_unreadable": frozenset({"raw", "usage"}),
    "chat.reply_empty": frozenset(),
    "chat.reply_no_ticket": frozenset(),
    "chat.reply_several": frozenset({"count", "tickets"}),
    "chat.reroute_usage": frozenset({"groups", "problem", "usage"}),
    "chat.rerouted": frozenset({"from_groups", "pic", "ticket", "to_group"}),
    "chat.rerouted_record": frozenset({"group"}),
    "chat.responded": frozenset({"agency", "pic", "tail", "ticket"}),
    "chat.responded_no_sms": frozenset(),
    "chat.responded_sms": frozenset(),
    "chat.split": frozenset({"label", "pic", "tail", "ticket"}),
    "chat.split_dissolved": frozenset({"label"}),
    "chat.split_incident": frozenset({"usage"}),
    "chat.split_left": frozenset({"label", "reports"}),
    "chat.split_not_linked": frozenset({"ticket"}),
    "chat.split_ticket_unreadable": frozenset({"raw", "usage"}),
    "chat.status_elsewhere": frozenset({"groups", "ticket"}),
    "chat.status_groups": frozenset({"groups", "regency"}),
    "chat.status_head": frozenset({"spam", "status", "ticket"}),
    "chat.status_incident": frozenset({"label", "reports", "status"}),
    "chat.status_last": frozenset({"agency", "pic", "text", "time"}),
    "chat.status_no_response": frozenset(),
    "chat.status_received": frozenset({"received", "sender"}),
    "chat.status_regency": frozenset({"regency"}),
    "chat.status_spam": frozenset(),
    "chat.status_text": frozenset({"text"}),
    "chat.ticket_not_found": frozenset({"ticket"}),
    "chat.ticket_unreadable": frozenset({"raw", "usage"}),
    "chat.unknown_command": frozenset({"command", "help"}),
    "chat.unknown_group": frozenset({"group"}),
    "commands.alihkan": frozenset(),
    "commands.alihkan_usage": frozenset(),
    "commands.bantuan": frozenset(),
    "commands.bantuan_usage": frozenset(),
    "commands.gabung": frozenset(),
    "commands.gabung_usage": frozenset(),
    "commands.help_bot_name": frozenset({"bot"}),
    "commands.help_line": frozenset({"description", "usage"}),
    "commands.help_notes": frozenset(),
    "commands.help_title": frozenset(),
    "commands.pisah": frozenset(),
    "commands.pisah_usage": frozenset(),
    "commands.selesai": frozenset(),
    "commands.selesai_usage": frozenset(),
    "commands.status": frozenset(),
    "commands.status_usage": frozenset(),
    "commands.tanggapi": frozenset(),
    "commands.tanggapi_usage": frozenset(),
    "incident.answer": frozenset({"label"}),
    "incident.count": frozenset({"reports", "senders"}),
    "incident.head": frozenset({"label"}),
    "incident.head_word": frozenset({"head", "word"}),
    "incident.last_response": frozenset({"by", "response"}),
    "incident.last_response_by": frozenset({"by"}),
    "incident.linked": frozenset({"label"}),
    "incident.merged_into": frozenset({"target"}),
    "incident.newest": frozenset(),
    "incident.place": frozenset({"place"}),
    "incident.quote": frozenset({"text", "ticket", "time"}),
    "incident.span": frozenset({"first", "last"}),
    "incident.threshold": frozenset({"label", "reports"}),
    "incident.threshold_answer": frozenset({"label"}),
    "incident.threshold_passed": frozenset({"threshold"}),
    "incident.word_closed": frozenset(),
    "incident.word_dissolved": frozenset(),
    "incident.word_merged": frozenset(),
    "marker.batch_header": frozenset({"count"}),
    "marker.emergency": frozenset(),
    "marker.new": frozenset(),
    "marker.spam": frozenset(),
    "report.agency_rule": frozenset(),
    "report.caption_csv": frozenset({"month"}),
    "report.caption_pdf": frozenset({
        "median", "month", "open", "previous", "received", "share_on_target", "share_responded", "target",
    }),
    "report.caption_xlsx": frozenset({"month"}),
    "report.chart_bar_received": frozenset(),
    "report.chart_bar_responded": frozenset(),
    "report.chart_channel_left_out": frozenset(),
    "report.chart_complaints": frozenset({"note"}),
    "report.chart_count": frozenset(),
    "report.chart_date": frozenset(),
    "report.chart_median": frozenset(),
    "report.chart_no_complaints": frozenset(),
    "report.chart_no_data": frozenset(),
    "report.chart_no_responses": frozenset(),
    "report.chart_other_regencies": frozenset({"count"}),
    "report.chart_p90": frozenset(),
    "report.chart_received": frozenset(),
    "report.chart_responded_part": frozenset(),
    "report.chart_response_hours": frozenset(),
    "report.chart_spam": frozenset(),
    "report.chart_target": frozenset({"days"}),
    "report.closed": frozenset(),
    "report.days": frozenset({"value"}),
    "report.events": frozenset(),
    "report.hours": frozenset({"value"}),
    "report.incidents": frozenset(),
    "report.linked_reports": frozenset(),
    "report.minutes": frozenset({"value"}),
    "report.month_1": frozenset(),
    "report.month_10": frozenset(),
    "report.month_11": frozenset(),
    "report.month_12": frozenset(),
    "report.month_2": frozenset(),
    "report.month_3": frozenset(),
    "report.month_4": frozenset(),
    "report.month_5": frozenset(),
    "report.month_6": frozenset(),
    "report.month_7": frozenset(),
    "report.month_8": frozenset(),
    "report.month_9": frozenset(),
    "report.no_agency": frozenset(),
    "report.no_duty_channel": frozenset(),
    "report.no_duty_unregistered": frozenset(),
    "report.no_regency": frozenset(),
    "report.on_target": frozenset({"target"}),
    "report.pdf_addressee": frozenset({"timezone"}),
    "report.pdf_agencies_without_duty": frozenset(),
    "report.pdf_agency": frozenset(),
    "report.pdf_all_responded": frozenset(),
    "report.pdf_as_of": frozenset({"as_of", "generated"}),
    "report.pdf_cover_note": frozenset(),
    "report.pdf_definitions": frozenset(),
    "report.pdf_definitions_text": frozenset({"limits", "target"}),
    "report.pdf_footer": frozenset({"month"}),
    "report.pdf_group": frozenset(),
    "report.pdf_incident_median": frozenset(),
    "report.pdf_indicator": frozenset(),
    "report.pdf_keyword_columns": frozenset(),
    "report.pdf_keywords": frozenset(),
    "report.pdf_median": frozenset(),
    "report.pdf_no_complaints": frozenset(),
    "report.pdf_no_duty_agencies": frozenset(),
    "report.pdf_no_duty_pics": frozenset(),
    "report.pdf_no_keywords": frozenset(),
    "report.pdf_no_pics": frozenset(),
    "report.pdf_open": frozenset({"count"}),
    "report.pdf_open_columns": frozenset(),
    "report.pdf_open_more": frozenset({"count", "shown"}),
    "report.pdf_open_note": frozenset(),
    "report.pdf_p90": frozenset(),
    "report.pdf_page": frozenset({"page", "pages"}),
    "report.pdf_per_agency": frozenset(),
    "report.pdf_per_day": frozenset(),
    "report.pdf_per_group": frozenset(),
    "report.pdf_per_group_note": frozenset(),
    "report.pdf_per_pic": frozenset(),
    "report.pdf_per_regency": frozenset(),
    "report.pdf_period": frozenset({"month"}),
    "report.pdf_pic": frozenset(),
    "report.pdf_pics_without_duty": frozenset(),
    "report.pdf_regency_columns": frozenset({"target"}),
    "report.pdf_response_times": frozenset(),
    "report.pdf_spam": frozenset(),
    "report.pdf_stage_columns": frozenset(),
    "report.pdf_stage_limit": frozenset({"seconds", "stage"}),
    "report.pdf_stages": frozenset(),
    "report.pdf_stages_note": frozenset(),
    "report.pdf_stats_columns": frozenset({"target"}),
    "report.pdf_subtitle": frozenset(),
    "report.pdf_summary": frozenset({"month"}),
    "report.pdf_tagline": frozenset(),
    "report.pdf_title": frozenset(),
    "report.pdf_without_duty_columns": frozenset(),
    "report.received": frozenset(),
    "report.received_sms": frozenset(),
    "report.received_web": frozenset(),
    "report.rerouted": frozenset(),
    "report.responded": frozenset(),
    "report.seconds": frozenset({"value"}),
    "report.share_on_target": frozenset({"target"}),
    "report.share_responded": frozenset(),
    "report.stage_deliver": frozenset(),
    "report.stage_filter": frozenset(),
    "report.stage_notify": frozenset(),
    "report.stage_register": frozenset(),
    "report.still_open": frozenset(),
    "report.tile_complaints": frozenset({"value"}),
    "report.tile_median": frozenset(),
    "report.tile_notify": frozenset(),
    "report.tile_notify_limit": frozenset({"seconds"}),
    "report.tile_open": frozenset(),
    "report.tile_open_note": frozenset(),
    "report.tile_p90": frozenset({"value"}),
    "report.tile_previous": frozenset({"value"}),
    "report.xlsx_agency_columns": frozenset(),
    "report.xlsx_as_of": frozenset(),
    "report.xlsx_day_columns": frozenset(),
    "report.xlsx_definition": frozenset(),
    "report.xlsx_definition_text": frozenset(),
    "report.xlsx_durations": frozenset(),
    "report.xlsx_durations_text": frozenset(),
    "report.xlsx_duty": frozenset(),
    "report.xlsx_end": frozenset(),
    "report.xlsx_generated": frozenset(),
    "report.xlsx_group_columns": frozenset(),
    "report.xlsx_incident_median": frozenset(),
    "report.xlsx_keyword_columns": frozenset(),
    "report.xlsx_median": frozenset(),
    "report.xlsx_month": frozenset(),
    "report.xlsx_notes_columns": frozenset(),
    "report.xlsx_open_columns": frozenset(),
    "report.xlsx_p90": frozenset(),
    "report.xlsx_per_agency": frozenset(),
    "report.xlsx_per_group": frozenset(),
    "report.xlsx_per_group_text": frozenset(),
    "report.xlsx_period": frozenset(),
    "report.xlsx_pic_columns": frozenset(),
    "report.xlsx_regency_columns": frozenset(),
    "report.xlsx_sheets": frozenset(),
    "report.xlsx_spam": frozenset(),
    "report.xlsx_stage_columns": frozenset(),
    "report.xlsx_stage_limit": frozenset({"stage"}),
    "report.xlsx_start": frozenset(),
    "report.xlsx_stats_columns": frozenset(),
    "report.xlsx_still_open": frozenset(),
    "report.xlsx_still_open_text": frozenset(),
    "report.xlsx_summary_columns": frozenset({"month", "previous"}),
    "report.xlsx_target": frozenset(),
    "report.xlsx_timezone": frozenset(),
    "report.xlsx_timezone_value": frozenset({"timezone"}),
    "sms.missing_part": frozenset({"part", "total"}),
    "sms.more": frozenset({"centre_number", "ticket"}),
    "status.closed": frozenset(),
    "status.no_response": frozenset(),
    "status.open": frozenset(),
    "status.responded": frozenset(),
    "telegram.digest_more": frozenset({"more"}),
    "telegram.incident_gone": frozenset({"label"}),
    "telegram.undecodable": frozenset({"hex_chars", "id", "modem"}),
    "texts.ack_sms": frozenset({"centre_number", "ticket"}),
    "texts.centre_number": frozenset(),
    "texts.closed_sms": frozenset({"agency", "centre_number", "response", "ticket"}),
    "texts.help_sms": frozenset({"centre_number"}),
    "texts.response_sms": frozenset({"agency", "centre_number", "response", "ticket"}),
    "texts.status_sms": frozenset({"agency", "received", "response", "status", "ticket"}),
    "texts.status_unknown_sms": frozenset({"centre_number", "ticket"}),
    "texts.telegram_batch_item": frozenset({
        "groups", "hashtag", "keywords", "kind", "marker", "received", "regency", "sender", "text", "ticket",
    }),
    "texts.telegram_digest": frozenset({"count", "date", "group", "items", "more"}),
    "texts.telegram_digest_item": frozenset({"days", "hashtag", "received", "status", "text", "ticket"}),
    "texts.telegram_escalation": frozenset({
        "groups", "hashtag", "hours", "received", "regency", "sender", "text", "ticket",
    }),
    "texts.telegram_followup": frozenset({"hashtag", "received", "sender", "text", "ticket"}),
    "texts.telegram_notification": frozenset({
        "groups", "hashtag", "keywords", "kind", "marker", "received", "regency", "sender", "text", "ticket",
    }),
    "texts.telegram_operator": frozenset({"modem", "received", "sender", "text"}),
    "texts.telegram_reminder": frozenset({
        "groups", "hashtag", "hours", "received", "regency", "sender", "text", "ticket",
    }),
    "texts.telegram_rerouted": frozenset({"agency", "from_groups", "hashtag", "pic", "ticket", "to_group"}),
    "texts.answer_ack_sms": frozenset({'centre_number', 'ticket'}),
    "texts.question_sms": frozenset({'agency', 'centre_number', 'response', 'ticket'}),
    "texts.citizen_reminder_sms": frozenset({'agency', 'centre_number', 'response', 'ticket'}),
    "texts.telegram_answer": frozenset({'hashtag', 'note', 'received', 'sender', 'text', 'ticket'}),
    "commands.tanya_usage": frozenset(),
    "commands.tanya": frozenset(),
    "chat.asked": frozenset({'agency', 'pic', 'tail', 'ticket'}),
    "chat.asked_answer_hint": frozenset(),
    "chat.empty_question": frozenset({'usage'}),
    "chat.split_answer_gone": frozenset({'ticket'}),
    "chat.split_answer_erased": frozenset(),
    "chat.split_answer": frozenset({'new', 'pic', 'ticket'}),
    "report.questions": frozenset(),
    "report.citizen_answers": frozenset(),
    "report.pdf_answer_median": frozenset(),
    "report.waiting_for_citizen": frozenset(),
    "report.xlsx_answer_median": frozenset(),
    "conversations.ambiguous_note": frozenset({'groups'}),
    "conversations.other_topics": frozenset(),
    "conversations.answer_ack_sms": frozenset({'ticket'}),
    "conversations.question_sms": frozenset({'agency', 'response', 'ticket'}),
    "conversations.citizen_reminder_sms": frozenset({'agency', 'response', 'ticket'}),
    "conversations.telegram_answer": frozenset({'hashtag', 'note', 'received', 'sender', 'text', 'ticket'}),
}


def _fixed_placeholders() -> dict[str, frozenset[str]]:
    found: dict[str, frozenset[str]] = {}
    for key, template in render.fixed_texts().items():
        items = [template] if isinstance(template, str) else list(template)
        found[key] = frozenset().union(*(render.placeholders(t) for t in items))
    return found


def _all_templates() -> dict[str, frozenset[str]]:
    listed = {f"texts.{key}": frozenset(allowed) for key, allowed in TEXT_VARIABLES.items()}
    listed["texts.centre_number"] = frozenset()
    listed.update(_fixed_placeholders())
    return listed


def test_every_template_is_listed() -> None:
    """A text added, removed, or given other placeholders is a deliberate change: list it above."""
    actual = _all_templates()
    if actual != TEMPLATES:
        lines = [f"    {k!r}: frozenset({sorted(v)!r})," if v else f"    {k!r}: frozenset()," for k, v in
                 sorted(actual.items())]
        pytest.fail("TEMPLATES differs from the templates; now:\n" + "\n".join(lines))


# --------------------------------------------------------------------------
# Every template renders with its placeholders.


def test_every_fixed_text_renders() -> None:
    for key, template in render.fixed_texts().items():
        values = {name: f"<{name}>" for name in _fixed_placeholders()[key]}
        if isinstance(template, str):
            out = [render.wording(key, **values)]
        else:
            out = list(render.wordings(key, **values))
        assert out and all(o.strip() for o in out), key
        for o in out:
            assert "$" not in o.replace("(+628...)", ""), (key, o)
            for name in values:
                assert name not in render.placeholders(o), (key, o)


def test_a_missing_placeholder_is_an_error() -> None:
    """A text never goes out with ``$ticket`` in it: the caller must give every value."""
    with pytest.raises(KeyError):
        render.wording("chat.ticket_not_found")
    assert render.wording("chat.ticket_not_found", ticket="261128-0200-1").startswith("Tiket 261128-0200-1 ")


def test_every_config_text_renders_with_its_variables() -> None:
    """The [texts] defaults (the shipped config.toml) use only the variables their code fills in."""
    shipped = tomllib.loads(resources.files("laporgub").joinpath("data/config.toml").read_text(encoding="utf-8"))
    for key, allowed in TEXT_VARIABLES.items():
        template = shipped["texts"][key]
        assert render.placeholders(template) <= allowed, key
        out = string.Template(template).substitute({name: f"<{name}>" for name in allowed})
        assert out.strip() and "$" not in out, key


def test_spacing_at_the_ends_is_kept() -> None:
    """Pieces put next to other text keep their leading newline or spaces (TOML drops a newline after \"\"\")."""
    assert render.wording("telegram.digest_more", more=5) == "\n… dan 5 tiket lainnya."
    assert render.wording("sms.missing_part", part=2, total=3) == " [bagian 2/3 tidak diterima] "
    assert render.wording("chat.status_spam") == " · ditandai spam"
    assert render.wording("report.received_sms") == "   melalui SMS"


def test_fixed_texts_are_read_once() -> None:
    assert render.fixed_texts() is render.fixed_texts()


# --------------------------------------------------------------------------
# The code names only texts that exist, and every text is used.


def _sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _text_keys_in_code() -> tuple[set[str], set[str]]:
    """Keys given to wording()/wordings() as literals, and the constant starts of f-string keys."""
    literal: set[str] = set()
    prefixes: set[str] = set()
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            # fixed_texts()["key"]: a template read as it is (the config's defaults of newer [texts] keys)
            if (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call)
                    and isinstance(node.value.func, ast.Name) and node.value.func.id == "fixed_texts"
                    and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)):
                literal.add(node.slice.value)
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name not in ("wording", "wordings"):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                literal.add(arg.value)
            elif isinstance(arg, ast.IfExp):
                for branch in (arg.body, arg.orelse):
                    if isinstance(branch, ast.Constant) and isinstance(branch.value, str):
                        literal.add(branch.value)
            elif isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.Constant):
                prefixes.add(str(arg.values[0].value))
    return literal, prefixes


def test_code_names_only_existing_texts_and_uses_them_all() -> None:
    keys = set(render.fixed_texts())
    literal, prefixes = _text_keys_in_code()
    assert literal - keys == set(), "texts named in the code but missing in laporgub/data/texts.toml"
    assert all(any(k.startswith(p) for k in keys) for p in prefixes), prefixes
    unused = {k for k in keys - literal if not any(k.startswith(p) for p in prefixes)}
    assert unused == set(), "texts in laporgub/data/texts.toml that no code uses"


# --------------------------------------------------------------------------
# No Indonesian sentence outside the templates.

#: Words that give an Indonesian text away (whole words, also with -nya/-kan/-lah).
INDONESIAN = re.compile(
    r"\b(?:tiket|laporan|anda|terima kasih|mohon|belum|sudah|tanggapan|tanggapi|ditanggapi|tidak|kejadian|"
    r"silakan|pelapor|grup|maaf|pengaduan|dikirim|diterima|selesai|kirim|balas|perintah|wilayah|kategori|instansi|"
    r"jumlah|bulan|hari|jam|dari|untuk|dengan|atau|yang|pesan|nomor|sebutkan|tercatat|ditutup|dialihkan|gagal|"
    r"batas|tanpa|waktu|rekap|pengingat|eskalasi|halaman|periode|ringkasan|keterangan|tanggal|lainnya|bagian|"
    r"konfigurasi|perlu|dapat|bisa|ada|ke|di|dan|kami|bapak|ibu|gubernur|tahap|pengirim|menunggu)"
    r"(?:nya|kan|lah)?\b",
    re.IGNORECASE,
)
#: A literal without spaces or capitals is a key, a code or a file name (``selesai``, ``tiket-laporgub-``).
KEY_LIKE = re.compile(r"[a-z0-9_./:#%-]*")
#: Calls whose text no citizen, PIC or leader reads: logs (read by the operators) and the command line's help.
ADMIN_CALLS = frozenset({
    "debug", "info", "warning", "error", "exception", "critical", "log",
    "print", "add_argument", "add_parser", "ArgumentParser", "add_argument_group", "add_subparsers",
})
#: Modules whose Indonesian words are data the service reads, not texts it writes.
ALLOWED_FILES: dict[str, str] = {
    "routing.py": "the keywords and places citizens write, which route a complaint",
    "routing_model.py": "the learned model's vocabulary",
    "gazetteer.py": "place names and the words around them in citizens' SMS",
    "incidents.py": "the stop words left out when comparing reports",
    "demo.py": "sample SMS of citizens the demo sends in",
    "sim/": "the emulators' sample SMS",
}
#: Literals that read as Indonesian but are no text of ours, one by one: literal -> why.
ALLOWED_LITERALS: dict[str, str] = {
    "Grup ": "a prefix stripped from configured group names (report/render_pdf.py)",
    "Jalan rusak parah di Ungaran, banyak lubang": "a citizen's complaint as the API schema's example",
}


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _admin_literals(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in ADMIN_CALLS:
                found.update(id(n) for arg in [*node.args, *(k.value for k in node.keywords)] for n in ast.walk(arg))
    return found


def indonesian_literals(root: Path = PACKAGE) -> list[str]:
    """``file:line: text`` of every string literal outside the templates that reads as Indonesian."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if any(rel == f or (f.endswith("/") and rel.startswith(f)) for f in ALLOWED_FILES):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree) | _admin_literals(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in skip:
                continue
            text = node.value
            if KEY_LIKE.fullmatch(text) or text in ALLOWED_LITERALS:
                continue
            if INDONESIAN.search(text):
                found.append(f"{rel}:{node.lineno}: {text[:80]!r}")
    return found


def test_no_indonesian_text_outside_the_templates() -> None:
    """Wording lives in laporgub/data/texts.toml (or config.toml's [texts]); code calls render.wording()."""
    assert indonesian_literals() == []


def test_the_scan_finds_a_sentence_written_in_code(tmp_path: Path) -> None:
    (tmp_path / "module.py").write_text(
        '"""Docstrings may say tiket."""\n'
        "import logging\n"
        "logger = logging.getLogger(__name__)\n"
        "def answer(ticket: str) -> str:\n"
        '    logger.info("event=x tiket=%s", ticket)\n'
        '    status = "selesai"\n'
        '    return f"Tiket {ticket} tidak ditemukan."\n',
        encoding="utf-8",
    )
    assert indonesian_literals(tmp_path) == ["module.py:7: 'Tiket '", "module.py:7: ' tidak ditemukan.'"]
