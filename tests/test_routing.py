"""Tests of laporgub.routing and laporgub.gazetteer: normalisation, ticket numbers,
senders, regencies, the five kinds, keyword matching, and the labelled dev corpus."""

from __future__ import annotations

import dataclasses
import json
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from laporgub import gazetteer
from laporgub.gazetteer import ALIASES, REGENCIES, find_regency, find_regency_match, match_regency
from laporgub.routing import (
    _ABBREVIATIONS,
    CATEGORY_GROUPS,
    KINDS,
    ROUTING_ORDER,
    Classification,
    Classifier,
    RoutingRules,
    is_operator_sender,
    load_default_rules,
    normalize,
    parse_ticket_number,
    rules_from_toml,
)
from laporgub.types import GROUP_KEYS, SMS_KINDS

ROOT = Path(__file__).resolve().parents[1]
KEYWORDS_TOML = ROOT / "laporgub" / "data" / "keywords.toml"
CORPUS = Path(__file__).resolve().parent / "data" / "corpus_dev.jsonl"
SUBSCRIBER = "+6281234567890"


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(load_default_rules())


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
        ("dalane rusak ora didandani", "jalannya rusak tidak didandani"),
        ("banyu mlebu omah", "air mlebu rumah"),
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
     "cek", "banjir", "jalan", "info", "lapor pak", "?"],
)
def test_too_short(classifier: Classifier, text: str) -> None:
    r = classify(classifier, text)
    assert r.kind == "too_short", r
    assert r.groups == ()


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


def test_regency_only_goes_to_pelayanan_publik_too(classifier: Classifier) -> None:
    r = classify(classifier, "Tolong perhatikan desa kami yang terisolir di Purbalingga")
    assert r.groups == ("kabkota", "pelayanan_publik")
    assert r.regency == "Kabupaten Purbalingga"
    assert "pelayanan_publik" not in r.matched  # a fallback, not a keyword match


def test_no_match_falls_back_to_pelayanan_publik(classifier: Classifier) -> None:
    r = classify(classifier, "Saya mau usul agar ada lapangan olahraga di desa kami")
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
    c = Classifier(RoutingRules(keywords={"infrastruktur": ("jalan rusak",)}))
    assert c.classify("jalan rusak parah", SUBSCRIBER).groups == ("infrastruktur",)
    assert c.classify("jalan ke sawah rusak", SUBSCRIBER).groups == ("infrastruktur",)
    assert c.classify("jln desa kami rusak", SUBSCRIBER).groups == ("infrastruktur",)
    assert c.classify("jalan di desa kami sangat rusak", SUBSCRIBER).groups == ("pelayanan_publik",)
    assert c.classify("rusak sekali jalan ini", SUBSCRIBER).groups == ("pelayanan_publik",)


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
            dupes = [w for w, n in Counter(words).items() if n > 1]
            assert not dupes, (key, dupes)
        if key != "kabkota":
            assert 30 <= len(group["keywords"]) <= 80, (key, len(group["keywords"]))
    assert len(data["spam"]["keywords"]) >= 30
    assert all(w == w.lower() for w in data["spam"]["keywords"])


def test_keywords_are_not_mangled_by_abbreviations() -> None:
    # A keyword word that is also an SMS abbreviation would match the expansion instead
    # ("tpi", the fish auction, would become "tapi"). Only these expansions are intended.
    intended = {"pak", "bu", "jln", "rs"}
    data = _keywords_toml()
    lists = [w for g in data["groups"].values() for k in ("keywords", "negative_keywords") for w in g.get(k, [])]
    lists += data["spam"]["keywords"]
    for keyword in lists:
        for word in keyword.replace("-", " ").split():
            assert word not in _ABBREVIATIONS or word in intended, keyword


def test_load_default_rules_reads_the_package_data() -> None:
    rules = load_default_rules()
    assert rules == rules_from_toml(_keywords_toml())
    assert "banjir" in rules.keywords["darurat"]
    assert "mama minta pulsa" in rules.spam_keywords
    assert rules.min_words == 2
    assert "channel" not in rules.keywords


# --------------------------------------------------------------------------
# The labelled dev corpus


def _corpus() -> list[dict]:
    with CORPUS.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_corpus_covers_every_kind_and_group() -> None:
    rows = _corpus()
    assert len(rows) >= 150
    assert {r["kind"] for r in rows} == set(KINDS)
    groups = Counter(g for r in rows for g in r["expected_groups"])
    assert set(groups) == set(ROUTING_ORDER)
    assert all(n >= 8 for n in groups.values()), groups
    for r in rows:
        assert set(r) <= {"sender", "text", "expected_groups", "kind", "regency"}
        assert "channel" not in r["expected_groups"]
        assert (r["kind"] == "complaint") == bool(r["expected_groups"]), r
    named = sum(1 for r in rows if "kabkota" in r["expected_groups"])
    assert named / len(rows) >= 0.2
    assert sum(1 for r in rows if len(set(r["expected_groups"]) - {"kabkota"}) > 1) >= 15


def test_corpus_classification_quality(capsys: pytest.CaptureFixture[str]) -> None:
    data = _keywords_toml()
    classifier = Classifier(rules_from_toml(data))
    tp = fp = fn = kinds_ok = regency_ok = regency_n = 0
    misses = []
    rows = _corpus()
    for row in rows:
        r = classifier.classify(row["text"], row["sender"])
        expected, got = set(row["expected_groups"]), set(r.groups)
        tp += len(expected & got)
        fp += len(got - expected)
        fn += len(expected - got)
        kinds_ok += r.kind == row["kind"]
        if "regency" in row:
            regency_n += 1
            regency_ok += r.regency == row["regency"]
        if r.kind != row["kind"] or expected != got:
            misses.append(f"{row['kind']}->{r.kind} {sorted(expected)}->{sorted(got)}: {row['text']}")
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall)
    kind_accuracy = kinds_ok / len(rows)
    regency_accuracy = regency_ok / regency_n
    with capsys.disabled():
        print(f"\ncorpus_dev: n={len(rows)} group micro-P={precision:.3f} R={recall:.3f} F1={f1:.3f} "
              f"kind accuracy={kind_accuracy:.3f} regency accuracy={regency_accuracy:.3f} ({regency_n})")
    detail = "\n".join(misses)
    assert f1 >= 0.97, detail
    assert kind_accuracy >= 0.99, detail
    assert regency_accuracy >= 0.98, detail
