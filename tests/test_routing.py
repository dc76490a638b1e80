"""Tests of laporgub.routing and laporgub.gazetteer: normalisation, ticket numbers,
senders, regencies, the five kinds, keyword matching (affixes, typos, weak and negative
keywords), and the labelled corpora (dev, and the held-out one never tuned on)."""

from __future__ import annotations

import dataclasses
import json
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laporgub import gazetteer
from laporgub.evaluation import read_corpus, score_routing
from laporgub.gazetteer import ALIASES, REGENCIES, find_regency, find_regency_match, match_regency, place_words
from laporgub.routing import (
    _ABBREVIATIONS,
    CATEGORY_GROUPS,
    KINDS,
    ROUTING_ORDER,
    Classification,
    Classifier,
    RoutingRules,
    is_operator_sender,
    load_abbreviations,
    load_default_rules,
    normalize,
    parse_ticket_number,
    rules_from_toml,
)
from laporgub.types import GROUP_KEYS, SMS_KINDS

ROOT = Path(__file__).resolve().parents[1]
KEYWORDS_TOML = ROOT / "laporgub" / "data" / "keywords.toml"
CORPUS = Path(__file__).resolve().parent / "data" / "corpus_dev.jsonl"
HOLDOUT = Path(__file__).resolve().parent / "data" / "corpus_holdout.jsonl"
SUBSCRIBER = "+6281234567890"


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_default_rules())


@pytest.fixture(scope="module")
def rules_only() -> Classifier:
    """The keyword rules without the learned model beside them ([routing] model = false)."""
    return Classifier(dataclasses.replace(load_default_rules(), model=False))


def classify(classifier: Classifier, text: str, sender: str = SUBSCRIBER) -> Classification:
    return classifier.classify(text, sender)


# --------------------------------------------------------------------------
# Constants agree with the rest of the package.


def test_kinds_and_groups_agree_with_types() -> None:
    assert set(KINDS) <= set(SMS_KINDS)
    assert set(ROUTING_ORDER) == set(GROUP_KEYS) - {"channel"}
    assert ROUTING_ORDER == tuple(g for g in GROUP_KEYS if g != "channel")
    assert set(CATEGORY_GROUPS) < set(ROUTING_ORDER)


# --------------------------------------------------------------------------
# normalize


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ""),
        ("   ", ""),
        ("Jalan RUSAK!!!", "jalan rusak"),
        ("jln rusak parahhh 😭😭", "jalan rusak parah"),
        ("tolooong pak", "tolong bapak"),
        ("maaf, saat ini", "maaf saat ini"),  # legitimate doubles stay
        ("banjirr", "banjir"),
        ("gaaak ada", "tidak ada"),
        ("yg tdk sdh blm", "yang tidak sudah belum"),
        ("gk ga gak nggak", "tidak tidak tidak tidak"),
        ("mhn tlg dr dgn krn kmrn skrg", "mohon tolong dari dengan karena kemarin sekarang"),
        ("pak gub", "bapak gubernur"),
        ("rs swasta", "rumah sakit swasta"),
        ("pju mati", "pju mati"),  # kept as is: a keyword of its own
        ("dalane rusak ora didandani", "jalannya rusak tidak diperbaiki"),
        ("banyu mlebu omah", "air masuk rumah"),
        ("mboten wonten", "tidak ada"),
        ("kali meluap", "kali meluap"),  # "kali" is also "times": not translated
        ("anak2 sekolah", "anak anak sekolah"),
        ("RT2 RW3", "rt 2 rw 3"),  # short words are not reduplicated
        ("lpg 3kg", "lpg 3 kg"),
        ("e-KTP", "e ktp"),
        ("ektp", "e ktp"),
        ("bit.ly/abc", "bit ly abc"),
        ("#T261128_0200_1", "t 261128 0200 1"),
        ("pppk", "pppk"),  # no vowel: an acronym, not a stretched word
        ("Assalamu’alaikum", "assalamu alaikum"),
        ("𝐒𝐋𝐎𝐓 𝐆𝐀𝐂𝐎𝐑", "slot gacor"),  # NFKC folds "bold" letters
        ("SMPN 1", "smpn 1"),
        ("b4njir d s3k0lah", "banjir d sekolah"),  # digits for letters, when that spells a known word
        ("SL0T G4C0R", "sl 0 t g 4 c 0 r"),  # the module-level lexicon does not know "gacor"
        ("3kg 2x", "3 kg 2 x"),  # a digit on the edge of a word is a number
        ("Kab.Smg", "kabupaten smg"),
        ("Hub 0812", "hubungi 0812"),
        ("mbok wis", "mbok sudah"),  # ambiguous Javanese stays
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_abbreviations_expand_to_plain_words() -> None:
    # Idempotence of normalize relies on no expansion containing another abbreviation.
    for key, value in _ABBREVIATIONS.items():
        assert key == key.lower() and value == value.lower()
        assert not any(w in _ABBREVIATIONS for w in value.split()), key


_SMS_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,!?-_/#:2aaeeiou😭🙏"
_SMS_TEXT = st.text(alphabet=st.sampled_from(list(_SMS_ALPHABET)), max_size=80)


@given(_SMS_TEXT)
@settings(max_examples=300, deadline=None)
def test_normalize_is_idempotent_and_tidy(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip() and "  " not in once
    assert once == once.lower()


# --------------------------------------------------------------------------
# parse_ticket_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CEK 261128-0200-1", "261128-0200-1"),
        ("cek 261128-0200-12", "261128-0200-12"),
        ("status 2611280200-1", "261128-0200-1"),
        ("261128 0200 1", "261128-0200-1"),
        ("261128_0200_1", "261128-0200-1"),
        ("#T261128_0200_1", "261128-0200-1"),
        ("#t261128_0200_3 tolong", "261128-0200-3"),
        ("t26112802001", "261128-0200-1"),
        ("cek 26112802001", "261128-0200-1"),
        ("tiket: 2611280200123", "261128-0200-123"),
        ("261128-0200-01", "261128-0200-1"),
        ("261128 - 0200 - 1", "261128-0200-1"),
        ("laporan no 270101-9999-4 bagaimana", "270101-9999-4"),
    ],
)
def test_parse_ticket_number(text: str, expected: str) -> None:
    assert parse_ticket_number(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "cek laporan saya",
        "26112802001",  # unseparated without context: could be a phone number
        "hubungi 081227123456",
        "nomor saya 081227123456",  # "nomor" is no context: phone numbers follow it
        "261328-0200-1",  # month 13
        "261131-0200-1",  # 31 November
        "261128-0200-0",  # sequence starts at 1
        "261128-020-1",  # three-digit middle part
        "NIK 3374012345678901",
        "KK 3374 0123 4567 8901",
        "rt 05 rw 02",
    ],
)
def test_parse_ticket_number_rejects(text: str) -> None:
    assert parse_ticket_number(text) is None


# --------------------------------------------------------------------------
# is_operator_sender


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        ("TELKOMSEL", True),
        ("INFO", True),
        ("XL-Axiata", True),
        ("BRI", True),
        ("3", True),
        ("123", True),
        ("+3", True),
        ("99899", True),
        ("123456", True),
        ("+123456", True),
        ("", True),
        ("1234567", False),
        ("+6281234567890", False),
        ("081398765432", False),
        ("6289876543210", False),
        ("+62 813-2900-1122", False),
        ("0812 3456 7890", False),
    ],
)
def test_is_operator_sender(sender: str, expected: bool) -> None:
    assert is_operator_sender(sender) is expected


# --------------------------------------------------------------------------
# gazetteer


def test_regencies_are_the_35_official_names() -> None:
    assert len(REGENCIES) == 35 == len(set(REGENCIES))
    kab = [r for r in REGENCIES if r.startswith("Kabupaten ")]
    kota = [r for r in REGENCIES if r.startswith("Kota ")]
    assert len(kab) == 29 and len(kota) == 6
    assert {k.removeprefix("Kota ") for k in kota} == {"Magelang", "Surakarta", "Salatiga", "Semarang", "Pekalongan",
                                                         "Tegal"}
    for name in ("Kabupaten Semarang", "Kota Semarang", "Kota Surakarta", "Kabupaten Banyumas", "Kabupaten Grobogan",
                 "Kabupaten Sukoharjo", "Kabupaten Magelang", "Kota Magelang"):
        assert name in REGENCIES


def test_every_official_name_finds_itself() -> None:
    for name in REGENCIES:
        assert find_regency(name) == name
        assert find_regency(f"jalan rusak di {name.upper()}.") == name


def test_every_alias_resolves_to_an_official_name() -> None:
    assert set(ALIASES.values()) <= set(REGENCIES)
    for alias, regency in ALIASES.items():
        assert alias == alias.lower()
        assert find_regency(f"warga {alias} lapor") == regency, alias


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Solo", "Kota Surakarta"),
        ("macet di kota solo", "Kota Surakarta"),
        ("Surakarta", "Kota Surakarta"),
        ("Purwokerto", "Kabupaten Banyumas"),
        ("jln di pwt rusak", "Kabupaten Banyumas"),
        ("Banyumas", "Kabupaten Banyumas"),
        ("Ungaran", "Kabupaten Semarang"),
        ("Slawi", "Kabupaten Tegal"),
        ("Kajen", "Kabupaten Pekalongan"),
        ("Mungkid", "Kabupaten Magelang"),
        ("Kota Mungkid", "Kabupaten Magelang"),
        ("Sragen", "Kabupaten Sragen"),
        ("Klaten", "Kabupaten Klaten"),
        ("Boyolali", "Kabupaten Boyolali"),
        ("Kartasura", "Kabupaten Sukoharjo"),
        ("Sukoharjo", "Kabupaten Sukoharjo"),
        ("Solo Baru", "Kabupaten Sukoharjo"),
        ("Wonogiri", "Kabupaten Wonogiri"),
        ("Karanganyar", "Kabupaten Karanganyar"),
        ("Purwodadi", "Kabupaten Grobogan"),
        ("Grobogan", "Kabupaten Grobogan"),
        ("Blora", "Kabupaten Blora"),
        ("Cepu", "Kabupaten Blora"),
        ("Rembang", "Kabupaten Rembang"),
        ("Pati", "Kabupaten Pati"),
        ("Kudus", "Kabupaten Kudus"),
        ("Jepara", "Kabupaten Jepara"),
        ("Demak", "Kabupaten Demak"),
        ("Kendal", "Kabupaten Kendal"),
        ("Batang", "Kabupaten Batang"),
        ("Pemalang", "Kabupaten Pemalang"),
        ("Brebes", "Kabupaten Brebes"),
        ("Cilacap", "Kabupaten Cilacap"),
        ("Purbalingga", "Kabupaten Purbalingga"),
        ("Banjarnegara", "Kabupaten Banjarnegara"),
        ("Kebumen", "Kabupaten Kebumen"),
        ("Purworejo", "Kabupaten Purworejo"),
        ("Wonosobo", "Kabupaten Wonosobo"),
        ("Temanggung", "Kabupaten Temanggung"),
        ("Salatiga", "Kota Salatiga"),
        ("Muntilan", "Kabupaten Magelang"),
        ("Ambarawa", "Kabupaten Semarang"),
        ("Tembalang", "Kota Semarang"),
    ],
)
def test_find_regency_aliases(text: str, expected: str) -> None:
    assert find_regency(text) == expected
    assert find_regency(f"Lapor pak, jalan rusak di {text.upper()}!!") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # bare shared names mean the Kota
        ("banjir di Semarang", "Kota Semarang"),
        ("Magelang", "Kota Magelang"),
        ("pekalongan", "Kota Pekalongan"),
        ("Tegal", "Kota Tegal"),
        ("di smg banjir", "Kota Semarang"),
        # qualified
        ("Kota Semarang", "Kota Semarang"),
        ("kodya semarang", "Kota Semarang"),
        ("pemkot Tegal", "Kota Tegal"),
        ("wali kota Magelang", "Kota Magelang"),
        ("walikota pekalongan", "Kota Pekalongan"),
        ("Kab. Semarang", "Kabupaten Semarang"),
        ("kab semarang", "Kabupaten Semarang"),
        ("KAB.SMG", "Kabupaten Semarang"),
        ("Kabupaten Magelang", "Kabupaten Magelang"),
        ("kab pekalongan", "Kabupaten Pekalongan"),
        ("Bupati Tegal", "Kabupaten Tegal"),
        ("pemkab magelang", "Kabupaten Magelang"),
        # a kabupaten town beats a bare name anywhere in the text
        ("Semarang, tepatnya Ungaran", "Kabupaten Semarang"),
        ("Ungaran, Semarang", "Kabupaten Semarang"),
        ("Tegal, dekat Slawi", "Kabupaten Tegal"),
        ("pekalongan (Kajen)", "Kabupaten Pekalongan"),
        ("Magelang, Muntilan", "Kabupaten Magelang"),
        # a qualifier on an unshared name changes nothing
        ("kota kudus", "Kabupaten Kudus"),
        ("kab salatiga", "Kota Salatiga"),
        # first named wins among unshared names
        ("dari Kendal ke Demak", "Kabupaten Kendal"),
        ("jalan Semarang-Demak rusak di Sayung", "Kabupaten Demak"),
    ],
)
def test_find_regency_kota_or_kabupaten(text: str, expected: str) -> None:
    assert find_regency(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "jalan rusak di desa kami",
        "Jawa Tengah",
        "jateng",
        "batang pohon tumbang menutup jalan",
        "3 batang kayu hanyut",
        "beli sebatang rokok",
        "batang padi busuk kena hama",
        "tepung pati singkong",
        "jalan ke yogyakarta",
        "surabaya",
        "solonya",  # whole words only
        "kudusan",
    ],
)
def test_find_regency_none(text: str) -> None:
    assert find_regency(text) is None


def test_ambiguous_word_aliases_with_a_qualifier() -> None:
    assert find_regency("kab batang pohon tumbang") == "Kabupaten Batang"
    assert find_regency("warga Batang resah") == "Kabupaten Batang"
    assert find_regency("kabupaten pati") == "Kabupaten Pati"


def test_match_regency_reports_alias_and_bare() -> None:
    matches = match_regency("Semarang dan Ungaran")
    assert [(m.regency, m.alias, m.bare) for m in matches] == [
        ("Kota Semarang", "semarang", True),
        ("Kabupaten Semarang", "ungaran", False),
    ]
    m = find_regency_match("di kab. Semarang")
    assert m is not None and m.alias == "kab semarang" and m.regency == "Kabupaten Semarang"
    assert find_regency_match("tidak ada tempat") is None
    assert gazetteer.__all__


# --------------------------------------------------------------------------
# The five kinds


@pytest.mark.parametrize("sender", ["TELKOMSEL", "INFO", "3", "123", "XL-Axiata", "99899", "+3"])
def test_operator_sender_whatever_the_text(classifier: Classifier, sender: str) -> None:
    for text in ("Jalan rusak parah di Ungaran, tolong", "CEK 261128-0200-1", "", "slot gacor maxwin"):
        r = classify(classifier, text, sender)
        assert r.kind == "operator"
        assert r.groups == () and r.regency is None and r.ticket_ref is None and dict(r.matched) == {}


@pytest.mark.parametrize(
    ("text", "ticket"),
    [
        ("CEK 261128-0200-1", "261128-0200-1"),
        ("STATUS 261128-0200-1", "261128-0200-1"),
        ("status 2611280200-1", "261128-0200-1"),
        ("cek #T261128_0200_1", "261128-0200-1"),
        ("261128-0200-1", "261128-0200-1"),
        ("tiket 261201-7788-3 sdh sampai mana pak?", "261201-7788-3"),
        ("cek laporan", None),
        ("Cek laporan saya pak", None),
        ("status tiket sy brp?", None),
        ("laporan sy kmrn kok blm dibalas", None),
        ("gimana laporan saya", None),
        ("gimana laporan saya pak?", None),
        ("STATUS", None),
        ("apakah laporan saya sudah diproses?", None),
        ("Laporan kami belum ada kabar", None),
        ("aduan saya kok tidak direspon", None),
        ("sudah seminggu saya lapor kok belum ada tanggapan", None),
        ("saya sudah 3 kali lapor tapi tidak ada balasan", None),
        ("Mohon info kelanjutan laporan saya soal jalan rusak di Ungaran", None),
        ("Nyuwun pirsa, laporan kulo wingi pripun?", None),
        ("Kenapa sms saya ke nomor ini tidak pernah dapat balasan", None),
        ("nomor tiket saya berapa ya", None),
    ],
)
def test_status_query(classifier: Classifier, text: str, ticket: str | None) -> None:
    r = classify(classifier, text)
    assert r.kind == "status_query", r
    assert r.ticket_ref == ticket
    assert r.groups == () and r.regency is None


@pytest.mark.parametrize(
    "text",
    [
        "mohon dicek jalan rusak di depan SD",  # "cek" in a complaint
        "tolong cek kondisi jembatan di desa kami, sudah retak",
        "Pak tolong dicek laporan warga soal jalan rusak",
        "saya lapor jalan rusak di desa kami, mohon ditanggapi",  # a new report asking for a reply
        "laporan saya: banjir di desa kami sudah 3 hari, mohon ditanggapi",
        "laporan saya: jalan di desa kami rusak, kapan diperbaiki?",
        "sudah lapor ke kelurahan tapi belum ditanggapi, sampah menumpuk",  # reported elsewhere
        "Sdh lapor ke pak RT soal sampah tapi blm ditanggapi",
        "Token listrik tidak masuk, sdh lapor ke PLN tapi tidak ada tanggapan",
        "nomor saya 081227123456, jalan rusak tolong dihubungi",
    ],
)
def test_not_a_status_query(classifier: Classifier, text: str) -> None:
    assert classify(classifier, text).kind == "complaint"


@pytest.mark.parametrize(
    "text",
    ["", "   ", "tes", "test", "TEST 123", "p", "P", "halo", "Halooo min 🙏", "hai", "ping", "assalamualaikum",
     "Assalamualaikum wr wb", "Assalamu'alaikum", "Selamat pagi pak gubernur", "ok", "Pak", "😀😀", "tolong pak",
     "cek", "jalan", "info", "lapor pak", "?", "maaf salah kirim", "Met siang", "test sms", "P p p"],
)
def test_too_short(classifier: Classifier, text: str) -> None:
    r = classify(classifier, text)
    assert r.kind == "too_short", r
    assert r.groups == ()


@pytest.mark.parametrize("text", ["banjir", "Kebakaran!!", "BANJIRRR", "longsor 🙏", "tolong kebakaran", "kobong"])
def test_a_lone_emergency_word_pages_darurat(classifier: Classifier, text: str) -> None:
    # A careful human pages on "kebakaran!!" alone: it is no "too short" greeting.
    r = classify(classifier, text)
    assert r.kind == "complaint" and r.groups == ("darurat",), r


@pytest.mark.parametrize("text", ["darurat", "gawat", "tolong pak", "jalan", "halo darurat"])
def test_a_lone_word_that_pages_nobody_stays_too_short(classifier: Classifier, text: str) -> None:
    assert classify(classifier, text).kind == "too_short"


def test_min_words_is_configurable() -> None:
    rules = load_default_rules()
    one = Classifier(dataclasses.replace(rules, min_words=1))
    assert one.classify("banjir", SUBSCRIBER).kind == "complaint"
    assert one.classify("halo", SUBSCRIBER).kind == "too_short"
    three = Classifier(dataclasses.replace(rules, min_words=3))
    assert three.classify("jalan rusak", SUBSCRIBER).kind == "too_short"
    assert three.classify("jalan rusak parah", SUBSCRIBER).kind == "complaint"


@pytest.mark.parametrize(
    "text",
    [
        "Mama minta pulsa 100rb ke nomor ini ya, penting",
        "Ini papa, lagi di kantor polisi, tolong kirim pulsa 50rb sekarang",
        "Selamat! Anda mendapatkan hadiah cek tunai 100jt dari PLN. Info klik bit.ly/hadiahpln",
        "Anda terpilih sebagai pemenang undian, klaim hadiah di www.undian-resmi.com",
        "SLOT GACOR hari ini, maxwin! Depo 10rb bonus new member",
        "𝐒𝐋𝐎𝐓 𝐆𝐀𝐂𝐎𝐑 𝐌𝐀𝐗𝐖𝐈𝐍 daftar skrg",
        "Pinjaman dana cepat tanpa jaminan, bunga rendah. Hub WA 0812xxxx",
        "Yth. Bapak/Ibu, Anda terdaftar penerima BLT Rp600.000. Segera verifikasi di s.id/blt sebelum hangus",
        "Kode verifikasi anda 483920. Jangan berikan kode ini kepada siapapun",
        "Togel online 4D jitu, hadiah 10jt, hub WA 0813xxxx",
        "Promo akhir tahun! Diskon 70% semua produk",
    ],
)
def test_spam(classifier: Classifier, text: str) -> None:
    r = classify(classifier, text)
    assert r.kind == "spam", r
    assert r.groups == () and r.regency is None
    assert r.matched["spam"]


@pytest.mark.parametrize(
    "text",
    [
        "saya ditipu penipuan mengaku dari bansos",
        "lapor ada judi online di desa kami",
        "judi online merajalela di kampung, anak muda habis uangnya",
        "Pak, saya dapat sms mama minta pulsa terus dari nomor 0821xxxx, tolong diblokir",
        "Banyak iklan slot gacor di grup WA warga, anak2 ikut main judi, mohon diberantas",
        "Tetangga saya tertipu undian berhadiah palsu, uang 5 juta hilang",
        "KEMARIN ADA SMS KATANYA SAYA MENANG UNDIAN DARI BANK, DISURUH TRANSFER. ITU PENIPUAN KAN PAK?",
        "Ada sms mengatasnamakan Pemprov minta transfer biaya pencairan bansos, resmi atau penipuan?",
        "lapor pak ada sms: selamat anda mendapatkan hadiah cek tunai, klik bit.ly/abc",
    ],
)
def test_complaints_about_fraud_are_complaints_for_sosial_hukum(classifier: Classifier, text: str) -> None:
    r = classify(classifier, text)
    assert r.kind == "complaint", r
    assert "sosial_hukum" in r.groups


@pytest.mark.parametrize(
    "text",
    [
        "Pinjol ilegal nagih pakai ancaman, data saya disebar",
        "Saya diteror debt collector pinjol padahal tidak pernah pinjam",
    ],
)
def test_pinjol_complaints(classifier: Classifier, text: str) -> None:
    r = classify(classifier, text)
    assert r.kind == "complaint"
    assert {"ekonomi_industri", "sosial_hukum"} <= set(r.groups)


def test_links_alone_are_no_spam(classifier: Classifier) -> None:
    r = classify(classifier, "Jalan rusak parah, videonya di https://youtu.be/abc")
    assert r.kind == "complaint" and r.groups == ("infrastruktur",)


# --------------------------------------------------------------------------
# Complaints and their groups


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        ("Jln di desa kami RUSAK PARAHHH bnyk lubang, mohon diperbaiki pak gub 🙏", ("infrastruktur",)),
        ("lampu PJU mati sudah seminggu", ("infrastruktur",)),
        ("Mati lampu dari sore, PLN tidak bisa dihubungi", ("energi",)),
        ("gas melon langka, lpg 3kg susah dicari", ("energi",)),
        ("Puskesmas tutup padahal banyak pasien", ("kesehatan",)),
        ("Pupuk subsidi langka, petani tidak bisa tanam", ("pertanian",)),
        ("Harga beras di pasar naik terus", ("ekonomi_industri",)),
        ("Limbah pabrik dibuang ke sungai, bau menyengat", ("esdm_lh",)),
        ("Bansos PKH ibu saya dihentikan", ("sosial_hukum",)),
        ("E-KTP sy sdh 6 bln blm jadi", ("pelayanan_publik",)),
        ("TOLONG BANJIR SETINGGI PINGGANG", ("darurat",)),
        ("Pak dalane rusak ora didandani", ("infrastruktur",)),
        ("Kali meluap, banyu mlebu omah warga", ("darurat",)),
        ("Rabuk larang lan langka, wong tani bingung", ("pertanian",)),
    ],
)
def test_complaint_groups(classifier: Classifier, text: str, groups: tuple[str, ...]) -> None:
    r = classify(classifier, text)
    assert r.kind == "complaint"
    assert r.groups == groups, r.matched
    assert r.regency is None and r.ticket_ref is None
    assert r.normalized == normalize(text)


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        ("banjir merendam sawah warga", ("darurat", "pertanian")),
        ("Listrik padam saat banjir, warga gelap gulita", ("darurat", "energi")),
        ("Puskesmas kebanjiran, obat-obatan rusak", ("kesehatan", "darurat")),
        ("Ada pungli di kantor samsat", ("sosial_hukum", "pelayanan_publik")),
        ("Jalan rusak akibat truk tambang, debu beterbangan", ("esdm_lh", "infrastruktur")),
        ("Banjir merendam sawah dan jalan desa putus di Grobogan",
         ("darurat", "pertanian", "infrastruktur", "kabkota")),
    ],
)
def test_multi_group_in_routing_order(classifier: Classifier, text: str, groups: tuple[str, ...]) -> None:
    r = classify(classifier, text)
    assert r.groups == groups, r.matched
    assert list(r.groups) == sorted(r.groups, key=ROUTING_ORDER.index)


def test_regency_adds_kabkota(classifier: Classifier) -> None:
    r = classify(classifier, "Jalan rusak parah di Kab. Semarang, tepatnya Bawen")
    assert r.groups == ("infrastruktur", "kabkota")
    assert r.regency == "Kabupaten Semarang"
    assert r.matched["kabkota"] == ("kab semarang",)


def test_regency_only_goes_to_pelayanan_publik_too(rules_only: Classifier) -> None:
    r = classify(rules_only, "Tolong perhatikan desa kami yang terisolir di Purbalingga")
    assert r.groups == ("kabkota", "pelayanan_publik")
    assert r.regency == "Kabupaten Purbalingga"
    assert "pelayanan_publik" not in r.matched  # a fallback, not a keyword match


def test_no_match_falls_back_to_pelayanan_publik(rules_only: Classifier) -> None:
    r = classify(rules_only, "Saya mau usul agar ada lapangan olahraga di desa kami")
    assert r.kind == "complaint"
    assert r.groups == ("pelayanan_publik",)
    assert dict(r.matched) == {}


def test_matched_explains_with_keywords_as_written(classifier: Classifier) -> None:
    r = classify(classifier, "jalan berlobang dan lampu jalan mati, PDAM juga mati")
    assert r.groups == ("infrastruktur",)
    assert {"lampu jalan", "pdam"} <= set(r.matched["infrastruktur"])


@pytest.mark.parametrize(
    "text",
    ["kebanjiran lagi desa kami", "banjirnya sampai lutut", "rumah kami dibanjiri air kiriman",
     "tanah longsoran menutup akses desa", "api membesar, apinya sampai atap", "bnjir lg pak di rumah"],
)
def test_affixed_forms_match(classifier: Classifier, text: str) -> None:
    assert classify(classifier, text).groups == ("darurat",)


def test_affix_rules_on_a_small_rule_set() -> None:
    c = Classifier(RoutingRules(keywords={
        "darurat": ("banjir",),
        "sosial_hukum": ("tipu", "curi"),
        "esdm_lh": ("cemar",),
        "infrastruktur": ("rusak",),
        "pelayanan_publik": ("ktp",),
        "kesehatan": ("api",),  # deliberately short: no prefixes
    }))

    def groups(text: str) -> tuple[str, ...]:
        return c.classify(text, SUBSCRIBER).groups

    assert groups("warga kebanjiran semalam") == ("darurat",)
    assert groups("banjirnya tinggi sekali") == ("darurat",)
    assert groups("sawah dibanjiri air") == ("darurat",)
    assert groups("ada penipuan di desa") == ("sosial_hukum",)  # pen- + (t)ipu + -an
    assert groups("saya ditipu orang") == ("sosial_hukum",)
    assert groups("warga tertipu arisan") == ("sosial_hukum",)
    assert groups("pencurian motor marak") == ("sosial_hukum",)
    assert groups("pencemaran sungai parah") == ("esdm_lh",)
    assert groups("sungai tercemar berat") == ("esdm_lh",)
    assert groups("kerusakan jalan parah") == ("infrastruktur",)
    assert groups("jalane rusake parah") == ("infrastruktur",)  # Javanese -e
    assert groups("ktpnya belum jadi") == ("pelayanan_publik",)
    assert groups("apinya besar sekali") == ("kesehatan",)
    # short keywords take no prefixes, and whole words only
    assert groups("tapi sapi saya sakit") == ("pelayanan_publik",)
    assert groups("banjirbandang kemarin") == ("pelayanan_publik",)


def test_phrases_allow_two_words_between_in_order() -> None:
    # (A group without built-in evidence: infrastruktur reads a road's damage further on, below. The rules
    # alone: the learned model would give "listrik ... padam" to energi where no keyword does.)
    c = Classifier(RoutingRules(keywords={"energi": ("listrik padam",)}, model=False))
    assert c.classify("listrik padam parah", SUBSCRIBER).groups == ("energi",)
    assert c.classify("listrik ke rumah padam", SUBSCRIBER).groups == ("energi",)
    assert c.classify("listrik desa kami padam", SUBSCRIBER).groups == ("energi",)
    assert c.classify("listrik di desa kami sangat padam", SUBSCRIBER).groups == ("pelayanan_publik",)
    assert c.classify("padam sekali listrik ini", SUBSCRIBER).groups == ("pelayanan_publik",)


def test_a_road_and_its_damage_in_one_clause_is_infrastructure() -> None:
    c = Classifier(RoutingRules(keywords={"infrastruktur": ("jalan rusak",)}, model=False))
    assert c.classify("jalan di desa kami sangat rusak", SUBSCRIBER).groups == ("infrastruktur",)
    explained = c.explain("sdh lapor lewat web tp jalan blm diperbaiki juga", SUBSCRIBER)
    assert explained.classification.groups == ("infrastruktur",)
    assert explained.classification.matched["infrastruktur"] == ("jalan rusak (satu kalimat)",)
    assert c.classify("dalan nang grumbul kami tetep bae ancur", SUBSCRIBER).groups == ("infrastruktur",)
    # not a road: "tidak jalan" (not working), a place ("di jalan"), a repair done, another clause
    assert c.classify("programnya tidak jalan, semua mesin di pabrik rusak", SUBSCRIBER).groups == ("pelayanan_publik",)
    assert c.classify("motor saya mogok di jalan karena aki soak dan rusak", SUBSCRIBER).groups == ("pelayanan_publik",)
    assert c.classify("terima kasih, jalannya sudah diperbaiki", SUBSCRIBER).groups == ("pelayanan_publik",)
    assert c.classify("rusak sekali jalan ini", SUBSCRIBER).groups == ("pelayanan_publik",)
    assert c.classify("jalan ke pasar ramai tapi kiosnya rusak", SUBSCRIBER).groups == ("pelayanan_publik",)


def test_negative_keyword_cancels_the_match_it_overlaps() -> None:
    c = Classifier(RoutingRules(
        keywords={"darurat": ("banjir", "api", "longsor"), "energi": ("lampu mati",)},
        negative_keywords={"darurat": ("tidak ada banjir", "kereta api"), "energi": ("lampu jalan",)},
    ))

    def groups(text: str) -> tuple[str, ...]:
        return c.classify(text, SUBSCRIBER).groups

    assert groups("tidak ada banjir di sini pak") == ("pelayanan_publik",)
    assert groups("tidak ada banjir tapi tanah longsor") == ("darurat",)
    assert groups("kereta api telat terus") == ("pelayanan_publik",)
    assert groups("kereta api anjlok karena banjir") == ("darurat",)
    assert groups("lampu jalan mati semua") == ("pelayanan_publik",)
    assert groups("lampu jalan mati, lampu rumah juga mati") == ("energi",)


def test_negative_keyword_overlapping_nothing_cancels_the_group(classifier: Classifier) -> None:
    r = classify(classifier, "besok ada simulasi kebakaran di sekolah kami")
    assert "darurat" not in r.groups
    r = classify(classifier, "kebakaran rumah warga, api besar")
    assert r.groups == ("darurat",)


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("harga pupuk mahal sekali", "ekonomi_industri"),
        ("obat hama wereng langka", "kesehatan"),
        ("iuran BPJS Ketenagakerjaan dipotong tapi tidak disetor", "kesehatan"),
        ("polisi tidur terlalu tinggi", "sosial_hukum"),
        ("kereta api sering telat", "darurat"),
        ("jalan berlubang rawan kecelakaan", "darurat"),
        ("Izin lapor pak, jalan desa rusak", "pelayanan_publik"),
        ("jalan depan sekolah rusak parah", "pelayanan_publik"),
        ("lampu jalan mati sepanjang jalan raya", "energi"),
    ],
)
def test_default_negative_keywords(classifier: Classifier, text: str, absent: str) -> None:
    r = classify(classifier, text)
    assert r.kind == "complaint"
    assert absent not in r.groups, r.matched


def test_route_skips_the_choice_of_kind(classifier: Classifier) -> None:
    r = classifier.route("tiket 261128-0200-1: jalan rusak makin parah")
    assert r.kind == "complaint" and r.groups == ("infrastruktur",) and r.ticket_ref is None
    assert classifier.route("halo").groups == ("pelayanan_publik",)
    assert classifier.route("").groups == ("pelayanan_publik",)
    assert classifier.route("slot gacor maxwin depo 10rb").groups == ("sosial_hukum",)
    assert classifier.route("banjir di Ungaran").groups == ("darurat", "kabkota")
    text = "Jalan rusak di Kab. Semarang, lampu jalan mati"
    assert classifier.route(text) == classifier.classify(text, SUBSCRIBER)


def test_channel_is_never_returned_even_if_configured() -> None:
    c = Classifier(RoutingRules(keywords={"channel": ("jalan",), "infrastruktur": ("jalan rusak",)}))
    r = c.classify("jalan rusak", SUBSCRIBER)
    assert r.groups == ("infrastruktur",)
    assert "channel" not in r.matched


def test_unknown_groups_follow_the_known_ones() -> None:
    c = Classifier(RoutingRules(keywords={"pariwisata": ("wisata",), "infrastruktur": ("jembatan",)}))
    r = c.classify("jembatan ke tempat wisata putus", SUBSCRIBER)
    assert r.groups == ("infrastruktur", "pariwisata")


def test_empty_rules_route_everything_to_pelayanan_publik() -> None:
    c = Classifier(RoutingRules(keywords={}))
    assert c.classify("jalan rusak parah", SUBSCRIBER).groups == ("pelayanan_publik",)
    assert c.classify("slot gacor maxwin", SUBSCRIBER).kind == "complaint"  # no spam list, no spam
    assert c.classify("jalan rusak di Solo", SUBSCRIBER).groups == ("kabkota", "pelayanan_publik")


def test_rules_are_frozen() -> None:
    rules = RoutingRules(keywords={"darurat": ["banjir"]}, negative_keywords={"darurat": ["simulasi"]},
                         spam_keywords=["slot gacor"])  # type: ignore[arg-type]
    assert rules.keywords["darurat"] == ("banjir",)
    assert rules.negative_keywords["darurat"] == ("simulasi",)
    assert rules.spam_keywords == ("slot gacor",)
    with pytest.raises(TypeError):
        rules.keywords["darurat"] = ("x",)  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rules.min_words = 3  # type: ignore[misc]
    r = Classifier(rules).classify("banjir besar di desa", SUBSCRIBER)
    with pytest.raises(TypeError):
        r.matched["x"] = ()  # type: ignore[index]


@given(st.text(max_size=200), st.sampled_from(["+6281234567890", "TELKOMSEL", "3", "081398765432"]))
@settings(max_examples=300, deadline=None)
def test_classify_never_fails_and_keeps_its_promises(text: str, sender: str) -> None:
    r = _HYPOTHESIS_CLASSIFIER.classify(text, sender)
    assert r.kind in KINDS
    assert "channel" not in r.groups
    assert (r.kind == "complaint") == bool(r.groups)
    assert list(r.groups) == sorted(r.groups, key=ROUTING_ORDER.index)
    assert set(r.matched) <= set(r.groups) | {"spam"}
    assert r.regency is None or r.regency in REGENCIES
    assert (r.regency is not None) == ("kabkota" in r.groups)
    assert r.ticket_ref is None or r.kind == "status_query"


_HYPOTHESIS_CLASSIFIER = Classifier(load_default_rules())


# --------------------------------------------------------------------------
# Weak keywords, wildcard negatives, group weights


def _groups(c: Classifier, text: str) -> tuple[str, ...]:
    return c.classify(text, SUBSCRIBER).groups


def test_weak_keyword_routes_alone_but_not_beside_a_strong_one() -> None:
    c = Classifier(RoutingRules(keywords={
        "kesehatan": ("~ambulans", "puskesmas"), "darurat": ("kecelakaan",), "infrastruktur": ("jalan rusak",),
        "pelayanan_publik": ("~sekolah", "ktp"),
    }))
    assert _groups(c, "ambulans desa rusak tidak bisa dipakai") == ("kesehatan",)
    assert _groups(c, "kecelakaan di tikungan, ambulans lama datang") == ("darurat",)
    assert _groups(c, "jalan rusak, ambulans tidak bisa lewat") == ("infrastruktur",)
    assert _groups(c, "puskesmas tutup, ambulans rusak") == ("kesehatan",)
    # A strong keyword of pelayanan_publik also outweighs a weak one of a topic group.
    assert _groups(c, "ktp belum jadi, ambulans desa rusak") == ("pelayanan_publik",)
    # Weak keywords and nothing strong: the topic groups among them (pelayanan_publik is the fallback).
    assert _groups(c, "ambulans sekolah rusak") == ("kesehatan",)
    r = c.classify("kecelakaan di tikungan, ambulans lama datang", SUBSCRIBER)
    assert dict(r.matched) == {"darurat": ("kecelakaan",)}  # as written, without the mark


def test_two_distinct_weak_keywords_are_enough_but_a_repeated_one_is_not() -> None:
    c = Classifier(RoutingRules(keywords={"kesehatan": ("~batuk", "~demam"), "esdm_lh": ("asap pabrik",)}))
    assert _groups(c, "warga batuk dan demam terus") == ("kesehatan",)
    assert _groups(c, "warga batuk2 terus, tolong") == ("kesehatan",)  # alone: the evidence there is
    # Beside a strong keyword, weak ones are the consequence, not the topic ("anak sy batuk").
    assert _groups(c, "asap pabrik bikin warga batuk dan demam") == ("esdm_lh",)
    assert _groups(c, "asap pabrik bikin warga batuk2") == ("esdm_lh",)  # "batuk batuk": one cough


def test_group_weight_scales_the_evidence() -> None:
    keywords = {"darurat": ("~roboh",), "infrastruktur": ("jembatan",)}
    text = "jembatan roboh sebagian"
    assert _groups(Classifier(RoutingRules(keywords=keywords)), text) == ("infrastruktur",)
    heavier = Classifier(RoutingRules(keywords=keywords, group_weights={"darurat": 2.0}))
    assert _groups(heavier, text) == ("darurat", "infrastruktur")
    lighter = Classifier(RoutingRules(keywords={"infrastruktur": ("jembatan", "lubang")},
                                      group_weights={"infrastruktur": 0.5}))
    assert _groups(lighter, "jembatan sempit") == ("infrastruktur",)  # nothing stands out: the evidence there is
    assert _groups(Classifier(RoutingRules(keywords={"infrastruktur": ("jembatan",), "energi": ("listrik",)},
                                           group_weights={"infrastruktur": 0.5})),
                   "jembatan gelap, listrik mati") == ("energi",)


def test_wildcard_negative_cancels_what_it_wraps_only() -> None:
    c = Classifier(RoutingRules(
        keywords={"darurat": ("banjir", "kebakaran", "longsor")},
        negative_keywords={"darurat": ("asuransi *", "tidak ada * lagi")},
    ))
    assert _groups(c, "klaim asuransi kebakaran ditolak di balai desa") == ("pelayanan_publik",)
    assert _groups(c, "asuransi kebakaran batal karena banjir") == ("darurat",)
    assert _groups(c, "syukurlah tidak ada banjir lagi") == ("pelayanan_publik",)
    assert _groups(c, "tidak ada banjir tapi longsor") == ("darurat",)  # "lagi" does not follow
    e = c.explain("klaim asuransi kebakaran", SUBSCRIBER)
    assert e.cancelled == {"darurat": ("asuransi *",)}
    # A drill or course is no emergency by context too, shown beside the admin's wildcard.
    e = Classifier(RoutingRules(keywords={"darurat": ("kebakaran",)}, negative_keywords={"darurat": ("simulasi *",)})
                   ).explain("besok simulasi kebakaran", SUBSCRIBER)
    assert e.cancelled == {"darurat": ("simulasi *", "(kesiapsiagaan: simulasi)")}


def test_single_word_negative_overlapping_nothing_cancels_the_group_but_a_phrase_does_not() -> None:
    c = Classifier(RoutingRules(
        keywords={"darurat": ("banjir",), "ekonomi_industri": ("pedagang",)},
        negative_keywords={"darurat": ("hoaks",), "ekonomi_industri": ("depan pasar",)},
    ))
    assert _groups(c, "kabar banjir itu hoaks") == ("pelayanan_publik",)
    assert _groups(c, "pedagang depan pasar mengeluh sepi") == ("ekonomi_industri",)


@pytest.mark.parametrize(
    ("text", "groups"),
    [
        ("Angin kencang, pohon tumbang, ambulans datang", ("darurat",)),
        ("Jalan rusak parah, ambulans tidak bisa lewat", ("infrastruktur",)),
        ("Gaji guru PPPK belum cair 3 bulan", ("pelayanan_publik",)),
        ("Guru honorer belum digaji", ("pelayanan_publik",)),
        ("Tetangga jadi korban begal di jalan dekat hutan jati", ("sosial_hukum",)),
        ("Lampu PJU mati, gelap rawan begal", ("infrastruktur",)),
        ("Kakek saya pamit ke sawah belum pulang sampai malam", ("darurat",)),
        ("Pedagang pasar Klewer minta kios bekas kebakaran dibangun", ("ekonomi_industri",)),
        ("Sungai Banjir Kanal Barat penuh sampah", ("esdm_lh",)),
        ("Bau kotoran sapi dari kandang tetangga", ("esdm_lh",)),
        ("Harga daging sapi di pasar tembus 150rb", ("ekonomi_industri",)),
        ("Peredaran obat terlarang di kalangan pelajar", ("sosial_hukum",)),
    ],
)
def test_incidental_mentions_do_not_route(classifier: Classifier, text: str, groups: tuple[str, ...]) -> None:
    assert classify(classifier, text).groups == groups, classifier.explain(text, SUBSCRIBER).candidates


# --------------------------------------------------------------------------
# Typo tolerance, stems, abbreviations


@pytest.mark.parametrize(
    ("text", "group", "word"),
    [
        ("jmbtn di ds sy putus", "infrastruktur", "jembatan"),  # vowels dropped
        ("lstrik mati trs tiap sore", "energi", "listrik"),
        ("lmpu jln mati smua", "infrastruktur", "lampu"),
        ("Puskesmaz tutup terus", "kesehatan", "puskesmas"),  # one slip
        ("kebakran di pasar", "darurat", "kebakaran"),
        ("pertalit kosong di spbu", "energi", "pertalite"),
        ("jembtan kayu lapuk", "infrastruktur", "jembatan"),
    ],
)
def test_typos_are_read_as_the_keyword_word(classifier: Classifier, text: str, group: str, word: str) -> None:
    e = classifier.explain(text, SUBSCRIBER)
    assert group in e.classification.groups, e
    assert word in e.corrections.values()


@pytest.mark.parametrize(
    "text",
    [
        "sakti mandraguna",  # a word in the dictionary is no typo ("sakit")
        "jalur alternatif ditutup",  # "jalur" is a word, not a misspelt "jalan"
        "Sungai Progo",  # five letters: too short for a typing error ("promo")
        "mbok ya dibantu",  # Javanese, not a misspelt "mabuk"
        "serangan tikus di sawah",  # "serangan" is a word, no misspelt "Serengan" (Solo)
    ],
)
def test_typo_tolerance_leaves_real_words_alone(classifier: Classifier, text: str) -> None:
    assert dict(classifier.explain(text, SUBSCRIBER).corrections) == {}


def test_typo_tolerance_can_be_turned_off() -> None:
    keywords = {"energi": ("listrik",), "kesehatan": ("puskesmas",)}
    on = Classifier(RoutingRules(keywords=keywords, model=False))
    off = Classifier(RoutingRules(keywords=keywords, typo_min_length=0, model=False))
    for text in ("lstrik mati", "puskesmaz tutup"):
        assert on.classify(text, SUBSCRIBER).groups != ("pelayanan_publik",)
        assert off.classify(text, SUBSCRIBER).groups == ("pelayanan_publik",)


def test_two_edits_only_in_long_words() -> None:
    c = Classifier(RoutingRules(keywords={"kesehatan": ("puskesmas",), "darurat": ("banjir",)}))
    assert _groups(c, "puskesmes tutupp") == ("kesehatan",)  # 9 letters, one slip
    assert _groups(c, "puskusmes tutup") == ("kesehatan",)  # 9 letters, two slips
    assert _groups(c, "bonjer lagi") == ("pelayanan_publik",)  # 6 letters: two slips are another word


@pytest.mark.parametrize(
    ("text", "keyword", "group"),
    [
        ("rumah terendam air", "rendam", "darurat"),  # Sastrawi: ter- + rendam (the r merges)
        ("warga kemalingan motor", "maling", "sosial_hukum"),
        ("ada pemalakan di terminal", "palak", "sosial_hukum"),
        ("anak saya dibully", "bully", "sosial_hukum"),
        ("gerombolan ngamuk", "amuk", "sosial_hukum"),
        ("nyolong kayu jati", "colong", "sosial_hukum"),  # Javanese ny- for a lost c
        ("mbayar pungli", "pungli", "sosial_hukum"),
        ("listrike mati", "listrik", "energi"),  # Javanese -e
    ],
)
def test_affixes_and_stems(text: str, keyword: str, group: str) -> None:
    c = Classifier(RoutingRules(keywords={group: (keyword,)}))
    assert _groups(c, text) == (group,)


def test_nyamuk_is_no_amuk() -> None:
    c = Classifier(RoutingRules(keywords={"sosial_hukum": ("amuk",), "kesehatan": ("nyamuk",)}))
    assert _groups(c, "banyak nyamuk") == ("kesehatan",)


def test_abbreviations_ship_as_data_and_config_extends_them() -> None:
    shipped = load_abbreviations()
    assert shipped is _ABBREVIATIONS or dict(shipped) == dict(_ABBREVIATIONS)
    assert shipped["yg"] == "yang" and shipped["dalan"] == "jalan" and len(shipped) >= 300
    keywords = {"energi": ("listrik",)}
    assert _groups(Classifier(RoutingRules(keywords=keywords)), "setrum mati") == ("energi",)
    extended = Classifier(RoutingRules(keywords=keywords, abbreviations={"Strom": "listrik", "yg": "YANG"}))
    assert _groups(extended, "strom mati") == ("energi",)
    assert extended.classify("yg mana", SUBSCRIBER).normalized == "yang mana"


def test_words_inside_links_are_not_topic(classifier: Classifier) -> None:
    r = classify(classifier, "Jalan rusak parah, lihat videonya di youtube.com/watch?v=banjir-listrik")
    assert r.groups == ("infrastruktur",)


def test_digits_for_letters_with_the_rules_own_words() -> None:
    c = Classifier(RoutingRules(keywords={}, spam_keywords=("slot gacor",)))
    assert c.classify("SL0T G4C0R malam ini, depo 10rb", SUBSCRIBER).kind == "spam"


def test_explain_says_why(classifier: Classifier) -> None:
    e = classifier.explain("lstrik mati, ambulans jg rusak, rawan begal", SUBSCRIBER)
    assert e.classification == classifier.classify("lstrik mati, ambulans jg rusak, rawan begal", SUBSCRIBER)
    assert e.corrections == {"lstrik": "listrik"}
    assert "~ambulans" in e.candidates["kesehatan"] and "kesehatan" not in e.classification.groups
    assert e.cancelled["sosial_hukum"] == ("rawan *",)
    assert e.scores["energi"] >= 1 > e.scores["kesehatan"]


def test_classification_does_not_depend_on_what_was_read_before() -> None:
    texts = [row["text"] for row in _corpus()[:120]]
    first = Classifier(load_default_rules())
    second = Classifier(load_default_rules())
    forward = [first.classify(t, SUBSCRIBER) for t in texts]
    backward = [second.classify(t, SUBSCRIBER) for t in reversed(texts)]
    assert forward == backward[::-1]


# --------------------------------------------------------------------------
# Spam and status queries in the default lists


@pytest.mark.parametrize(
    "text",
    [
        "Saya beli pulsa 50rb di konter tapi tidak masuk, tolong pak",
        "Hadiah lomba agustusan dari kelurahan belum dibagikan sampai sekarang",
        "Anak saya main slot online sampai jual motor, tolong tutup situsnya",
        "Pak, ada sms undian berhadiah mengatasnamakan Pemprov, apa itu benar?",
        "Token listrik saya hangus padahal baru beli kemarin",
        "Link pendaftaran PPDB online error terus, bit.ly/ppdbjateng tidak bisa dibuka",
        "Jangan berikan kode OTP, tapi petugas bank minta kode OTP saya, apakah benar?",
        "Tolong hubungi saya di 081234567890, jalan depan rumah ambles",
        "Mohon info apakah pendaftaran bansos lewat link bansos-jateng.com itu resmi?",
        "Bising mesin pabrik 24 jam, warga tidak bisa tidur",
        "Gaji harian buruh proyek belum dibayar, promo rumah subsidinya bohong",
        "Dijual bebas obat keras di warung dekat sekolah, tolong ditindak",
    ],
)
def test_complaints_with_spam_words_stay_complaints(classifier: Classifier, text: str) -> None:
    r = classify(classifier, text)
    assert r.kind == "complaint", classifier.explain(text, SUBSCRIBER)


@pytest.mark.parametrize(
    "text",
    [
        "Bpk/Ibu yth, bantuan PKH tahap 3 sebesar Rp 750rb sudah bisa dicairkan, isi data di pkh-cair.site",
        "Nak ini bapak, hp bapak rusak, tolong kirim pulsa 50rb ke nomor ini",
        "MAXWIN hari ini! Depo 20rb WD 2jt, daftar di situsgacor.vip",
        "Yth Pelanggan PLN, token listrik anda gratis 1 bulan, ambil kode di plntoken-gratis.xyz",
        "Bantuan UMKM Rp3.5jt cair hari ini! Daftar di banpres-umkm.info dengan KTP",
        "Kami dari BPJS Kesehatan, tunggakan anda Rp 1.250.000, segera transfer ke rek 1234567 agar kartu tidak diblokir",
    ],
)
def test_phishing_in_official_words_is_spam(classifier: Classifier, text: str) -> None:
    r = classify(classifier, text)
    assert r.kind == "spam", classifier.explain(text, SUBSCRIBER)
    assert r.groups == ()


@pytest.mark.parametrize(
    "text",
    [
        "sudah sampai mana laporan saya pak?",
        "laporan sy td pagi udh dibaca blm",
        "knp laporan saya tdk ditanggapi",
        "apakah aduan saya ttg pungli sudah ditindaklanjuti?",
        "Mohon kabar tindak lanjut aduan kami",
        "Laporan kula wingi dereng wonten wangsulan",
        "Sudah seminggu sejak saya lapor jalan berlubang, laporan saya diproses tidak?",
        "Pak laporan banjir saya kemarin sudah diteruskan ke BPBD belum?",
    ],
)
def test_status_queries_in_other_words(classifier: Classifier, text: str) -> None:
    r = classify(classifier, text)
    assert r.kind == "status_query", r
    assert r.groups == ()


# --------------------------------------------------------------------------
# Gazetteer: routes, rivers, qualifiers after the name, typos


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tol Semarang-Solo dekat Bawen macet", "Kabupaten Semarang"),  # a place beats a route's ends
        ("jalan provinsi Purwodadi-Blora rusak", "Kabupaten Grobogan"),  # else the route's first end
        ("Sungai Bengawan Solo meluap di Sragen", "Kabupaten Sragen"),  # the river is no city
        ("banjir lagi di pekalongan kota", "Kota Pekalongan"),
        ("Semarang kab, Bandungan", "Kabupaten Semarang"),
        ("Magelang, Kota Mungkid", "Kabupaten Magelang"),
        ("kapal ke Karimunjawa", "Kabupaten Jepara"),
    ],
)
def test_find_regency_routes_rivers_and_late_qualifiers(text: str, expected: str) -> None:
    assert find_regency(text) == expected


def test_regency_typos_only_with_a_lexicon() -> None:
    known = {"serangan", "jalan"}.__contains__
    assert find_regency("jalan di kab. purbalinga rusak") is None
    assert find_regency("jalan di kab. purbalinga rusak", known) == "Kabupaten Purbalingga"
    assert find_regency("Temangung banjir", known) == "Kabupaten Temanggung"
    assert find_regency("serangan wereng", known) is None  # a known word is never a misspelt "Serengan"
    assert find_regency("kudusan", known) is None  # five letters: no typo tolerance
    m = match_regency("banjir di Semarang-Demak", known)
    assert [(x.regency, x.route) for x in m] == [("Kota Semarang", True), ("Kabupaten Demak", True)]


def test_place_words_feed_the_lexicon() -> None:
    words = place_words()
    assert {"ungaran", "purwokerto", "semarang", "kabupaten", "kota"} <= words


# --------------------------------------------------------------------------
# The default keyword lists


def _keywords_toml() -> dict:
    return tomllib.loads(KEYWORDS_TOML.read_text(encoding="utf-8"))


def test_keywords_toml_shape() -> None:
    data = _keywords_toml()
    assert set(data["groups"]) == set(ROUTING_ORDER)
    assert data["groups"]["kabkota"]["keywords"] == []
    for key, group in data["groups"].items():
        lists = [group["keywords"], group.get("negative_keywords", [])]
        for words in lists:
            assert all(w == w.lower() == w.strip() and w for w in words), key
            dupes = [w for w, n in Counter(w.lstrip("~") for w in words).items() if n > 1]
            assert not dupes, (key, dupes)
        # "~" marks a weak keyword, "*" stands for the group's keywords in a negative one.
        assert all("*" not in w and "~" not in w[1:] for w in group["keywords"]), key
        assert all("~" not in w and w.count("*") <= 1 for w in group.get("negative_keywords", [])), key
        if key != "kabkota":
            assert len(group["keywords"]) >= 60, (key, len(group["keywords"]))
            strong = [w for w in group["keywords"] if not w.startswith("~")]
            assert len(strong) >= 0.7 * len(group["keywords"]), key  # weak is the exception
    # The lead's config test: >= 10 per category group and >= 200 in all; we ship far more.
    assert sum(len(g["keywords"]) for g in data["groups"].values()) >= 800
    assert len(data["spam"]["keywords"]) >= 100
    assert all(w == w.lower() and "~" not in w and "*" not in w for w in data["spam"]["keywords"])


def test_keywords_are_not_mangled_by_abbreviations() -> None:
    # A keyword word that is also an SMS abbreviation would match the expansion instead
    # ("tpi", the fish auction, would become "tapi"). Only these expansions are intended.
    intended = {"pak", "bu", "jln", "rs"}
    data = _keywords_toml()
    lists = [w for g in data["groups"].values() for k in ("keywords", "negative_keywords") for w in g.get(k, [])]
    lists += data["spam"]["keywords"]
    for keyword in lists:
        for word in keyword.lstrip("~").replace("-", " ").replace("*", " ").split():
            assert word not in _ABBREVIATIONS or word in intended, keyword


def test_rules_from_a_config_shaped_document() -> None:
    rules = rules_from_toml({
        "groups": {
            "channel": {"name": "x", "chat_id": -1, "keywords": ["semua"]},
            "darurat": {"name": "Group Darurat", "chat_id": -2, "keywords": ["banjir", "~roboh"],
                        "negative_keywords": ["simulasi *"], "weight": 2},
        },
        "spam": {"keywords": ["slot gacor"]},
        "intake": {"min_words": 3, "typo_min_length": 7, "flood_count": 5},
        "routing": {"min_words": 9, "typo_two_edit_length": 10},
        "abbreviations": {"bnjr2": "banjir"},
        "telegram": {"token_env": "X"},
    })
    assert rules.keywords == {"darurat": ("banjir", "~roboh")}
    assert rules.group_weights == {"darurat": 2.0}
    assert rules.min_words == 3 and rules.typo_min_length == 7 and rules.typo_two_edit_length == 10
    assert rules.abbreviations == {"bnjr2": "banjir"}
    with pytest.raises(TypeError):
        rules_from_toml({"groups": [], "spam": {}})


def test_works_without_pysastrawi(monkeypatch: pytest.MonkeyPatch) -> None:
    # Degrades to the affix rules, with no typo tolerance (no dictionary to tell typos from words).
    import laporgub.routing as routing

    for name in [m for m in sys.modules if m == "Sastrawi" or m.startswith("Sastrawi.")] or ["Sastrawi"]:
        monkeypatch.setitem(sys.modules, name, None)
    routing._sastrawi.cache_clear()
    routing._base_lexicon.cache_clear()
    try:
        c = Classifier(RoutingRules(keywords={"energi": ("listrik",), "darurat": ("banjir",)}))
        assert c.classify("listrike mati, kebanjiran", SUBSCRIBER).groups == ("darurat", "energi")
        assert c.classify("lstrik mati total", SUBSCRIBER).groups == ("pelayanan_publik",)
    finally:
        routing._sastrawi.cache_clear()
        routing._base_lexicon.cache_clear()


def test_load_default_rules_reads_the_package_data() -> None:
    rules = load_default_rules()
    assert rules == rules_from_toml(_keywords_toml())
    assert "banjir" in rules.keywords["darurat"]
    assert "mama minta pulsa" in rules.spam_keywords
    assert rules.min_words == 2
    assert "channel" not in rules.keywords
    assert rules.group_weights == {} and rules.abbreviations == {}
    assert "~ambulans" in rules.keywords["kesehatan"]  # weak keywords keep their mark
    assert "simulasi *" in rules.negative_keywords["darurat"]


# --------------------------------------------------------------------------
# The labelled corpora: dev (tuned on) and holdout (written before tuning, never tuned on)

# Floors: the dev level reached, minus a small margin for deliberate trade-offs; the
# holdout's looser. Raise them when the filter gets better, never lower them to pass.
# Issue 17 lowered the dev floor from 0.965 (the micro average now counts pelayanan_publik,
# and the labelling rules of docs/routing.md, which an outside corpus follows, differ from a
# few team labels: public transport is infrastruktur, a chronic or habitual flood and a
# danger that is only feared are not darurat, school levies are sosial_hukum). The issue's
# own floor for the team's corpora is 0.95.
DEV_MIN_F1 = 0.955
DEV_MIN_KIND_ACCURACY = 0.99
HOLDOUT_MIN_F1 = 0.95
# Dev lines labelled darurat for a habitual flood ("sering banjir kalau hujan"), chronic rob or
# drought, or a danger only feared ("mau roboh", "takut longsor"): not darurat by the rules.
DEV_MAX_DARURAT_MISSED = 4
HOLDOUT_MIN_KIND_ACCURACY = 0.95


def _corpus(path: Path = CORPUS) -> list[dict]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.mark.parametrize(("path", "minimum"), [(CORPUS, 300), (HOLDOUT, 100)])
def test_corpus_covers_every_kind_and_group(path: Path, minimum: int) -> None:
    rows = _corpus(path)
    assert len(rows) >= minimum
    assert len({(r["sender"], r["text"]) for r in rows}) == len(rows)
    assert {r["kind"] for r in rows} == set(KINDS)
    groups = Counter(g for r in rows for g in r["expected_groups"])
    assert set(groups) == set(ROUTING_ORDER)
    assert all(n >= 8 for n in groups.values()), groups
    for r in rows:
        assert set(r) <= {"sender", "text", "expected_groups", "kind", "expected_regency"}
        assert "channel" not in r["expected_groups"]
        assert set(r["expected_groups"]) <= set(ROUTING_ORDER)
        assert (r["kind"] == "complaint") == bool(r["expected_groups"]), r
        assert (r["kind"] == "operator") == is_operator_sender(r["sender"]), r
        assert ("kabkota" in r["expected_groups"]) == (r.get("expected_regency") is not None), r
        assert r.get("expected_regency") is None or r["expected_regency"] in REGENCIES
    named = sum(1 for r in rows if "kabkota" in r["expected_groups"])
    assert named / len(rows) >= 0.2
    assert sum(1 for r in rows if len(set(r["expected_groups"]) - {"kabkota"}) > 1) >= 15


def _quality(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[float, float, object, str]:
    with path.open(encoding="utf-8") as f:
        rows, problems = read_corpus(f)
    assert not problems
    classifier = Classifier(load_default_rules())
    predictions = [classifier.classify(row.text, row.sender) for row in rows]
    scores = score_routing(rows, predictions)
    misses = [f"{row.kind}->{c.kind} {sorted(row.expected_groups or ())}->{sorted(c.groups)}: {row.text}"
              for row, c in zip(rows, predictions) if row.kind != c.kind or set(row.expected_groups or ()) != set(c.groups)]
    f1, kind_accuracy = scores.micro.f1 or 0.0, scores.kind_correct / scores.labelled_kinds
    with capsys.disabled():
        print(f"\n{path.name}: n={len(rows)} micro-P={scores.micro.precision:.3f} R={scores.micro.recall:.3f} "
              f"F1={f1:.3f} (category groups + kabkota) kind accuracy={kind_accuracy:.3f} "
              f"regency accuracy={scores.regency_correct / scores.regency_labelled:.3f} "
              f"darurat missed={len(scores.darurat_missed)} "
              f"complaints as spam/operator={len(scores.complaints_as_spam_or_operator)}/{scores.complaints}")
    return f1, kind_accuracy, scores, "\n".join(misses)


def test_dev_corpus_quality(capsys: pytest.CaptureFixture[str]) -> None:
    f1, kind_accuracy, scores, detail = _quality(CORPUS, capsys)
    assert f1 >= DEV_MIN_F1, detail
    assert kind_accuracy >= DEV_MIN_KIND_ACCURACY, detail
    assert len(scores.darurat_missed) <= DEV_MAX_DARURAT_MISSED, scores.darurat_missed
    assert not scores.complaints_lost, scores.complaints_lost
    assert not scores.noncomplaints_in_category, scores.noncomplaints_in_category
    assert len(scores.complaints_as_spam_or_operator) <= 0.01 * scores.complaints, detail
    assert scores.regency_correct / scores.regency_labelled >= 0.97, detail


def test_holdout_corpus_quality(capsys: pytest.CaptureFixture[str]) -> None:
    # Written before the filter was tuned, in other styles, and never tuned on: a looser
    # floor, and the outside checks (at most one darurat miss, two non-complaints in
    # a category group, 2% of complaints as spam or operator).
    f1, kind_accuracy, scores, detail = _quality(HOLDOUT, capsys)
    assert f1 >= HOLDOUT_MIN_F1, detail
    assert kind_accuracy >= HOLDOUT_MIN_KIND_ACCURACY, detail
    # Both misses are chronic: a drought over months and a flood "tiap hujan" (see DEV_MAX_DARURAT_MISSED).
    assert len(scores.darurat_missed) <= 2, scores.darurat_missed
    assert not scores.complaints_lost, scores.complaints_lost
    assert len(scores.noncomplaints_in_category) <= 2, scores.noncomplaints_in_category
    assert len(scores.complaints_as_spam_or_operator) <= 0.02 * scores.complaints, detail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Karanganyar is also a kecamatan of Demak, Kebumen, Purbalingga and Pekalongan.
        ("Jembatan Desa Wonoketingal Kec. Karanganyar Kab. Demak ambrol", "Kabupaten Demak"),
        ("jalan rusak di kecamatan karanganyar kebumen", "Kabupaten Kebumen"),
        ("Desa Batang, Kec. Batang? tidak: Kab. Pekalongan, Kec. Karanganyar", "Kabupaten Pekalongan"),
        # The regency named beside the district decides (Kec. Karanganyar alone lies in five regencies).
        ("Jembatan di Kec. Karanganyar Kabupaten Karanganyar ambrol", "Kabupaten Karanganyar"),
        # A qualified name is never demoted: "kab" comes before the district word's reach.
        ("Kab. Karanganyar, desa Jaten", "Kabupaten Karanganyar"),
    ],
)
def test_a_district_or_village_name_yields_to_the_regency_named(text: str, expected: str) -> None:
    assert find_regency(text) == expected


@pytest.mark.parametrize(("text", "darurat"), [
    ("Mohon perbaikan jalan kampung di Bedono Demak, rusak berat karena terendam rob berbulan bulan", False),
    ("Sawah kami tergenang bertahun-tahun karena saluran buntu, tolong dinormalisasi", False),
    ("Banjir sudah berhari-hari, air masih sepinggang, warga belum dievakuasi", True),
])
def test_a_chronic_state_is_no_emergency_of_these_hours(classifier: Classifier, text: str, darurat: bool) -> None:
    result = classifier.classify(text, "+6281234567890")
    assert ("darurat" in result.groups) is darurat, result.groups
