"""atheris target: the website API's input models. Any request body -> ComplaintIn or pydantic.ValidationError.

    python fuzz/api_target.py CORPUS_DIR [-max_total_time=60]   (copy fuzz/seeds/api to CORPUS_DIR first)
"""

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pydantic  # noqa: E402  (libraries uninstrumented: only LaporGub's code is what we fuzz)

with atheris.instrument_imports(include=["laporgub"]):
    from laporgub.api.app import ComplaintIn
    from laporgub.tickets import parse_phone


def test_one_input(data: bytes) -> None:
    try:
        complaint = ComplaintIn.model_validate_json(data)
    except pydantic.ValidationError:
        pass
    else:
        complaint.text.encode("utf-8")  # what reaches the database is valid text
        assert complaint.text.strip() == complaint.text and "\x00" not in complaint.text
    try:
        phone = parse_phone(data.decode("utf-8", "replace"))
    except ValueError:
        return
    assert phone is None or phone.startswith("+")


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
