"""The report's files: the PDF read back with pdftotext, the XLSX with openpyxl, the CSV with csv.

They are built from the hand-made month of ``test_report_aggregate`` and must
show its figures: the XLSX to the unit (real numbers and dates, not text).
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from laporgub import db
from laporgub.cli.report import report_main
from laporgub.config import Config, parse_config
from laporgub.report.build import BuiltReport, build_report
from laporgub.report.periods import Month
from laporgub.report.render_csv import CSV_COLUMNS
from laporgub.report.render_xlsx import SHEETS, STATS_COLUMNS
from tests.conftest import make_config_data
from tests.test_report_aggregate import AS_OF, JAN, seed_known_month, wib

PDFTOTEXT = shutil.which("pdftotext")


@pytest.fixture()
def config(tmp_path: Path) -> Config:
    data = make_config_data(tmp_path, ["loop://"], "http://127.0.0.1:9/bot")
    return parse_config(data)


@pytest.fixture()
def seeded(config: Config) -> Iterator[dict[str, str]]:
    handle = db.open_database(config.service.database)
    handle.connect(reuse_if_open=True)
    numbers = seed_known_month().numbers
    yield numbers
    if not handle.is_closed():
        handle.close()


def _build(config: Config, out: Path, month: Month = JAN) -> BuiltReport:
    return build_report(config, month, out, as_of=AS_OF, generated_at=AS_OF)


def _pdf_text(path: Path, *args: str, layout: bool = True) -> str:
    if PDFTOTEXT is None:
        pytest.skip("pdftotext not installed (Debian package poppler-utils)")
    return subprocess.run([PDFTOTEXT, *(["-layout"] if layout else []), *args, str(path), "-"], check=True,
                          capture_output=True, text=True).stdout


def _pdf_words(path: Path) -> str:
    """The PDF's text in reading order with every run of white space as one space.

    A cell that wraps comes out as consecutive lines, so a wrapped name reads whole here.
    """
    return " ".join(_pdf_text(path, layout=False).split())


def _sheet(book: Any, name: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in book[name].iter_rows(values_only=True)]


def _by_first(rows: list[tuple[Any, ...]], col: int = 0) -> dict[Any, tuple[Any, ...]]:
    return {r[col]: r for r in rows[1:]}


def test_three_files_named_by_month(config: Config, seeded: dict[str, str], tmp_path: Path) -> None:
    built = _build(config, tmp_path / "out")
    assert [f.name for f in built.files] == [
        "laporan-laporgub-2026-01.pdf", "laporan-laporgub-2026-01.xlsx", "tiket-laporgub-2026-01.csv"]
    assert all(f.path.stat().st_size > 0 for f in built.files)
    assert not list((tmp_path / "out").glob(".*partial"))
    assert built.files[0].path.read_bytes().startswith(b"%PDF-")


def test_pdf_shows_key_figures(config: Config, seeded: dict[str, str], tmp_path: Path) -> None:
    pdf = _build(config, tmp_path / "out").files[0].path
    first = _pdf_text(pdf, "-f", "1", "-l", "2")
    assert "LAPORAN BULANAN" in first and "Periode: Januari 2026" in first
    assert "Data per 01-02-2026 08:00 WIB" in first
    assert "Pengaduan diterima" in first and "75,0%" in first and "62,5%" in first  # 6/8 and 5/8
    assert "2,8 jam" in first  # median 2.75 h
    summary = _pdf_text(pdf, "-f", "2", "-l", "2")
    for line in ("Pengaduan diterima", "Sudah ditanggapi", "Masih terbuka", "SMS spam"):
        assert line in summary
    received = next(ln for ln in summary.splitlines() if ln.strip().startswith("Pengaduan diterima"))
    assert received.split()[-2:] == ["8", "1"]  # January 8, December 1
    assert "Desember 2025" in summary
    notify = next(ln for ln in summary.splitlines() if "Notifikasi" in ln)
    assert "50,00%" in notify
    everything = _pdf_text(pdf)
    for number in (seeded["T3"], seeded["T11"]):  # the complaints still without a response
        assert number in everything
    assert "Group Infrastruktur" in everything and "Dinas PU Bina Marga" in everything
    assert "Kabupaten Demak" in everything and "puskesmas" in everything
    assert "+62" not in everything  # senders are masked


LONG_AGENCY = "Dinas Pekerjaan Umum Bina Marga dan Cipta Karya Provinsi Jawa Tengah"


def test_pdf_wraps_long_names_and_headers_instead_of_cutting(config: Config, seeded: dict[str, str],
                                                             tmp_path: Path) -> None:
    db.Pic.update(agency=LONG_AGENCY).where(db.Pic.telegram_id == 333).execute()
    db.PicResponse.update(agency=LONG_AGENCY).where(db.PicResponse.pic_telegram_id == 333).execute()
    pdf = _build(config, tmp_path / "out").files[0].path
    words = _pdf_words(pdf)
    assert words.count(LONG_AGENCY) == 2  # per agency, and under its PIC
    assert "Ir. Budi " + LONG_AGENCY in words
    assert "Median waktu Masih terbuka" in words  # the regency table's headers, wrapped in their cells
    assert "..." not in _pdf_text(pdf) and "\u2026" not in words


def test_pdf_admin_agency_is_not_listed_as_failing(config: Config, seeded: dict[str, str], tmp_path: Path) -> None:
    """The admin's agency is only in the channel (which gets every complaint): what it did, no 0 % or 12,5 %."""
    pdf = _build(config, tmp_path / "out").files[0].path
    text = _pdf_text(pdf)
    lines = [ln.split() for ln in text.splitlines()]
    kominfo = [ln for ln in lines if ln[:1] == ["Diskominfo"]]
    assert kominfo == [["Diskominfo", "tidak", "ada", "(hanya", "channel)", "1", "0", "1"],  # per agency
                       ["Diskominfo"]]  # under its admin PIC's name
    assert ["Biro", "Organisasi", "tidak", "ada", "(tidak", "terdaftar)", "1", "0", "0"] in lines
    assert "Instansi tanpa grup tugas" in text and "PIC tanpa grup tugas" in text
    admin = next(i for i, ln in enumerate(lines) if ln[:2] == ["Admin", "Kominfo"])
    assert lines[admin][2:] == ["tidak", "ada", "(hanya", "channel)", "1", "0", "1"]
    assert "%" not in " ".join(lines[admin]) and "8" not in lines[admin]
    esdm = next(ln for ln in lines if ln[:2] == ["Dinas", "ESDM"])
    assert esdm[2:5] == ["1", "0", "0,0%"]  # an agency on duty keeps its full row
    words = _pdf_words(pdf)
    assert "grup PIC selain channel" in words


def test_pdf_open_list_is_compact(config: Config, seeded: dict[str, str], tmp_path: Path) -> None:
    pdf = _build(config, tmp_path / "out").files[0].path
    text = _pdf_text(pdf)
    t3 = next(ln for ln in text.splitlines() if ln.strip().startswith(seeded["T3"]))
    assert "Kab/Kota, Pelayanan Publik" in t3 and "Group" not in t3  # group names without "Group "
    assert "01-01-2026 00:00" in t3 and "Kabupaten Demak" in t3  # one row, one line
    assert 'Nama grup ditulis tanpa awalan "Group".' in text


def test_pdf_long_listing_repeats_header_and_keeps_rows_whole(config: Config, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A month of the sample's tickets with long agency names: 100 open complaints over two pages."""
    from benchmarks import report_sample as sample

    monkeypatch.setattr(sample, "SAMPLE_PICS", tuple(
        (pid, name, f"{agency} Provinsi Jawa Tengah", groups) for pid, name, agency, groups in sample.SAMPLE_PICS))
    handle = db.open_database(config.service.database)
    handle.connect(reuse_if_open=True)
    month = Month(2026, 11)
    sample.seed_month(handle, month, config.tz, 400, response_share=0.5)
    end = month.window(config.tz)[1]
    pdf = build_report(config, month, tmp_path / "out", as_of=end + 3 * 86400, generated_at=end).files[0].path
    pages = _pdf_text(pdf).split("\f")
    listing = [i for i, page in enumerate(pages) if "Pengaduan belum ditanggapi" in page]
    assert len(listing) == 1
    number = re.compile(r"^\s*(\d{6}-\d{4}-\d+)\s")
    rows = 0
    for page in pages[listing[0]:]:
        lines = [ln for ln in page.splitlines() if number.match(ln)]
        if not lines:
            break
        assert any(ln.split()[:2] == ["Nomor", "tiket"] for ln in page.splitlines()), "the header repeats"
        assert all(re.search(r"\d{2}-11-2026 \d{2}:\d{2}\s+\d+,\d (hari|jam)", ln) for ln in lines), lines
        rows += len(lines)
    assert rows == 100
    words = _pdf_words(pdf)
    assert "Dinas Pekerjaan Umum Bina Marga Provinsi Jawa Tengah" in words
    assert "..." not in _pdf_text(pdf)
    handle.close()


def test_xlsx_figures_to_the_unit(config: Config, seeded: dict[str, str], tmp_path: Path) -> None:
    path = _build(config, tmp_path / "out").files[1].path
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == list(SHEETS)

    summary = _sheet(book, "Ringkasan")
    assert summary[0] == ("Indikator", "Januari 2026", "Desember 2025", "Kunci")
    by_key = {r[3]: r for r in summary[1:]}
    assert by_key["received"][1:3] == (8, 1) and isinstance(by_key["received"][1], int)
    assert by_key["responded"][1] == 6 and by_key["on_target"][1] == 5
    assert by_key["share_responded"][1] == 0.75 and by_key["share_on_target"][1] == 0.625
    assert by_key["median_response_hours"][1] == pytest.approx(2.75)
    assert by_key["p90_response_hours"][1] == pytest.approx(53.0)
    assert (by_key["closed"][1], by_key["still_open"][1], by_key["rerouted"][1], by_key["spam"][1]) == (1, 2, 2, 1)
    assert (by_key["received_sms"][1], by_key["received_web"][1]) == (7, 1)
    assert book["Ringkasan"]["B6"].number_format == "0.0%"

    groups = _sheet(book, "Per Grup")
    assert groups[0] == ("Kunci grup", "Grup", *STATS_COLUMNS)
    g = _by_first(groups)
    assert g["infrastruktur"][2:6] == (2, 2, 1.0, 1) and g["infrastruktur"][7:9] == pytest.approx((49.0, 86.6))
    assert g["infrastruktur"][9:12] == (0, 0, 1)
    assert g["energi"][2:4] == (2 - 1, 0) and g["energi"][7] is None and g["energi"][11] == 1
    assert g["kesehatan"][2:6] == (2, 2, 1.0, 2) and g["kesehatan"][9] == 1
    assert g["pertanian"][2] == 0 and g["pertanian"][4] is None

    agency_rows = _sheet(book, "Per Instansi")
    assert agency_rows[0] == ("Instansi", *STATS_COLUMNS, "Grup tugas")
    agencies = _by_first(agency_rows)
    assert [r[0] for r in agency_rows[1:]] == [  # those with duty groups first, then those without
        "Dinas ESDM", "Dinas Kesehatan", "Dinas PU Bina Marga", "Biro Organisasi", "Diskominfo"]
    assert agencies["Dinas Kesehatan"][1:4] == (2, 2, 1.0) and agencies["Dinas Kesehatan"][11] == "kesehatan"
    # The admin's agency is only in the channel: what it did (answered and re-routed T7), no received, no rate.
    assert agencies["Diskominfo"][1:] == (None, 1, None, None, None, None, None, 0, None, 1,
                                          "tidak ada (hanya channel)")
    assert agencies["Biro Organisasi"][2] == 1 and agencies["Biro Organisasi"][11] == "tidak ada (tidak terdaftar)"
    pics = _by_first(_sheet(book, "Per PIC"))
    assert set(pics) == {111, 222, 333, 444, 555}
    assert pics[555][1:3] == ("Dedi", "Biro Organisasi") and pics[555][3:5] == (None, 1)
    assert pics[222][3:6] == (None, 1, None) and pics[222][13] == "tidak ada (hanya channel)"
    assert pics[333][8] == pytest.approx(49.0) and pics[333][13] == "infrastruktur"

    regencies = _by_first(_sheet(book, "Per Kab-Kota"))
    assert regencies["Kabupaten Demak"][1:3] == (1, 0) and regencies["(tidak disebut)"][1:3] == (5, 4)

    days = _sheet(book, "Per Hari")
    assert days[0] == ("Tanggal", "Pengaduan", "Ditanggapi", "Spam") and len(days) == 32
    assert days[1][0] == datetime(2026, 1, 1) and isinstance(days[1][0], datetime)
    assert days[5][1:] == (2, 2, 0) and days[12][1:] == (1, 1, 1) and days[31][1:] == (1, 1, 0)

    stages = _by_first(_sheet(book, "SLA Tahap"))
    assert stages["register"][2:7] == (9, 9, 9, 8, pytest.approx(8 / 9))
    assert stages["notify"][3:8] == (4, 3, 2, 0.5, 1)

    keywords = _sheet(book, "Kata Kunci")
    assert keywords[1][1:] == ("ktp", "pelayanan_publik", "Group Pelayanan Publik", 2)

    open_rows = _sheet(book, "Belum Ditanggapi")
    assert [r[0] for r in open_rows[1:]] == [seeded["T3"], seeded["T11"]]
    t3 = open_rows[1]
    assert t3[1] == "Group Kab/Kota, Group Pelayanan Publik"
    assert t3[2] == datetime(2026, 1, 1, 0, 0, 0)  # WIB wall clock, a real date
    assert t3[3] == pytest.approx((AS_OF - wib(2026, 1, 1)) / 86400)
    assert "****" in t3[4] and t3[5] == "Kabupaten Demak"

    meta = _by_first(_sheet(book, "Keterangan"))
    assert meta["Bulan"][1] == "2026-01" and meta["Data per"][1] == datetime(2026, 2, 1, 8, 0)
    assert meta["Target tanggapan (hari)"][1] == 3


def test_csv_per_ticket(config: Config, seeded: dict[str, str], tmp_path: Path) -> None:
    path = _build(config, tmp_path / "out").files[2].path
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert len(rows) == 9 and rows[0]["nomor_tiket"] == seeded["T3"]
    by_number = {r["nomor_tiket"]: r for r in rows}
    t5 = by_number[seeded["T5"]]
    assert (t5["grup"], t5["grup_dilalui"], t5["dialihkan"]) == ("channel;infrastruktur",
                                                                  "channel;energi;infrastruktur", "1")
    assert float(t5["waktu_tanggapan_jam"]) == pytest.approx(3.0) and t5["dalam_target"] == "1"
    t4 = by_number[seeded["T4"]]
    assert t4["diterima_wib"] == "2026-01-31 23:30:00" and t4["tanggapan_pertama_wib"] == "2026-02-01 02:00:00"
    t2 = by_number[seeded["T2"]]
    assert t2["dalam_target"] == "0" and float(t2["waktu_tanggapan_jam"]) == pytest.approx(96.0)
    assert float(t2["registrasi_detik"]) == pytest.approx(12.0)
    assert by_number[seeded["T6"]]["jenis"] == "spam" and by_number[seeded["T8"]]["kanal"] == "web"
    assert by_number[seeded["T1"]]["status"] == "ditutup" and by_number[seeded["T11"]]["status"] == "terbuka"
    assert all(r["pengirim"].count("*") == 4 for r in rows)
    # agencies answering for a group the complaint passed through: never the admin's for being in the channel
    assert t5["instansi_bertugas"] == "Dinas ESDM;Dinas PU Bina Marga"
    assert by_number[seeded["T1"]]["instansi_bertugas"] == "Dinas Kesehatan"
    assert by_number[seeded["T3"]]["instansi_bertugas"] == ""  # kabkota and pelayanan_publik have no PIC
    assert by_number[seeded["T7"]]["instansi_tanggapan_pertama"] == "Diskominfo"  # what the admin did
    assert not any("Diskominfo" in r["instansi_bertugas"] for r in rows)
    assert "+62" not in path.read_text(encoding="utf-8")


def test_empty_month_files(config: Config, seeded: dict[str, str], tmp_path: Path) -> None:
    built = build_report(config, Month(2026, 3), tmp_path / "out", as_of=wib(2026, 4, 1, 8), generated_at=0)
    text = _pdf_text(built.files[0].path, "-f", "1", "-l", "2")
    assert "Periode: Maret 2026" in text and "Tidak ada pengaduan bulan ini" in _pdf_text(built.files[0].path)
    book = openpyxl.load_workbook(built.files[1].path)
    summary = {r[3]: r for r in _sheet(book, "Ringkasan")[1:]}
    assert summary["received"][1] == 0 and summary["share_responded"][1] is None
    assert len(_sheet(book, "Belum Ditanggapi")) == 1
    assert built.files[2].path.read_text(encoding="utf-8").count("\n") == 1  # the header only


def test_report_main_writes_files(config: Config, seeded: dict[str, str], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    db.database.close()  # the command opens its own connection
    out = tmp_path / "cli"
    assert report_main(config, "2026-01", str(out)) == 0
    printed = capsys.readouterr().out.split()
    assert sorted(Path(p).name for p in printed) == [
        "laporan-laporgub-2026-01.pdf", "laporan-laporgub-2026-01.xlsx", "tiket-laporgub-2026-01.csv"]
    assert report_main(config, "2026-13", str(out)) == 2
    assert report_main(config, "januari", str(out)) == 2
    assert "--month" in capsys.readouterr().err


def test_sample_page_renders(config: Config, seeded: dict[str, str], tmp_path: Path) -> None:
    """pdftoppm turns page 1 into a PNG (what docs/report-sample.png is made with)."""
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm not installed (Debian package poppler-utils)")
    pdf = _build(config, tmp_path / "out").files[0].path
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "40", "-png", "-singlefile", str(pdf),
                    str(tmp_path / "page")], check=True)
    assert (tmp_path / "page.png").read_bytes().startswith(b"\x89PNG")


def test_database_is_only_read(config: Config, seeded: dict[str, str], tmp_path: Path) -> None:
    counts = {m.__name__: m.select().count() for m in db.MODELS}
    _build(config, tmp_path / "out")
    assert {m.__name__: m.select().count() for m in db.MODELS} == counts



def _stats(received: int, responded: int, median_h: float | None = None, p90_h: float | None = None) -> Any:
    from laporgub.report.aggregate import ResponseStats

    return ResponseStats(received=received, responded=responded, on_target=responded, closed=0, still_open=0,
                         rerouted=0, median_seconds=None if median_h is None else median_h * 3600,
                         p90_seconds=None if p90_h is None else p90_h * 3600)


def _assert_texts_clear(fig: Any) -> None:
    """Every text of the chart is inside the figure, no value label leaves the axes, none touches the legend."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    box = ax.get_window_extent(renderer)
    legend = ax.get_legend().get_window_extent(renderer)
    assert legend.y0 >= box.y1 - 1, "the legend is above the plot, over no bar"
    low, high = ax.get_xlim()
    ticks = [t for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high]  # the others are not drawn
    labels = [*ax.texts, *ax.get_yticklabels(), *ticks, ax.xaxis.label]
    for text in labels:
        if not text.get_text():
            continue
        extent = text.get_window_extent(renderer)
        where = f"{text.get_text()!r} at {extent}"
        assert extent.x0 >= 0 and extent.y0 >= 0, where
        assert extent.x1 <= fig.bbox.width and extent.y1 <= fig.bbox.height, where
        assert not extent.overlaps(legend), f"{where} overlaps the legend at {legend}"
    for text in ax.texts:
        assert text.get_window_extent(renderer).x1 <= box.x1 + 0.5, f"{text.get_text()!r} is cut at the axes edge"


def test_chart_labels_clear_of_legend_and_edges() -> None:
    """The long sample's page "per kabupaten/kota": "Lainnya" is the longest bar, its label sat under the legend."""
    from laporgub.report import charts
    from laporgub.report.aggregate import StatsRow

    regencies = [StatsRow(key="(tidak disebut)", label="(tidak disebut)", stats=_stats(871, 726))]
    regencies += [StatsRow(key=f"r{i}", label=f"Kabupaten Banjarnegara {i}", stats=_stats(77 - i, 60 - i))
                  for i in range(35)]
    _assert_texts_clear(charts.per_regency_figure(regencies))
    groups = [StatsRow(key="channel", label="SMSLaporGubChannel", stats=_stats(2897, 2359)),
              StatsRow(key="kabkota", label="Group Kab/Kota", stats=_stats(2026, 1633, 5.7, 26.7)),
              StatsRow(key="x", label="Group Pelayanan Publik dan Perizinan Terpadu Satu Pintu Provinsi Jawa Tengah",
                       stats=_stats(642, 510, 6.4, 300.0)),
              StatsRow(key="kesehatan", label="Group Kesehatan", stats=_stats(320, 0))]
    _assert_texts_clear(charts.per_group_figure(groups))
    for target_days in (3, 1, 14):  # the target line far right, far left (under the legend's corner), at the end
        _assert_texts_clear(charts.response_times_figure(groups, target_days * 86400))
    fig = charts.per_group_figure(groups)
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "Group Pelayanan Publik dan Perizinan Terpadu\nSatu Pintu Provinsi Jawa Tengah" in ticks or any(
        "\n" in t and t.replace("\n", " ").startswith("Group Pelayanan Publik") for t in ticks)
