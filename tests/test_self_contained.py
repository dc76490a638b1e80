"""The project explains itself: no file in the repository sends its reader to a document that
is not in the repository (the team's design notes live outside it and a user never sees them)."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Names of the team's documents outside the repository, and the way to reach them; built from
#: pieces so that this file does not trip its own check.
OUTSIDE = ("DESIGN" + ".md", "TECH-" + "NOTES", "STYLE" + ".md", "../" + "shared")


def tracked_text_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False)
    if listed.returncode != 0:  # not a git checkout (an sdist): walk the tree instead
        return [p for p in ROOT.rglob("*") if p.is_file() and ".venv" not in p.parts and ".git" not in p.parts]
    return [ROOT / name for name in listed.stdout.decode().split("\0") if name]


def test_no_file_points_outside_the_repository():
    found = []
    for path in tracked_text_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files (fonts, images, the model) say nothing to a reader
        for number, line in enumerate(text.splitlines(), 1):
            for name in OUTSIDE:
                if name in line:
                    found.append(f"{path.relative_to(ROOT)}:{number}: {name}")
    assert not found, "references to documents outside the repository:\n" + "\n".join(found)
