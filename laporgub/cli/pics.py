"""``laporgub pics``: the PIC registry as admins see it, per group, with the groups nobody answers for."""

from __future__ import annotations

from typing import IO

from laporgub.config import Config, PicConfig
from laporgub.responses import PicRegistry
from laporgub.types import GROUP_KEYS


def pics_main(config: Config, out: IO[str]) -> int:
    """Print the PICs per group (agency, surat tugas) and flag groups nobody answers for.

    Returns 0 (a listing; gaps are flagged in the text, not in the exit code).
    """
    registry = PicRegistry(config.pics)
    admins = registry.admins
    print(f"PICs in {config.path or 'config'}: {len(registry.pics)} PIC(s), {len(admins)} admin(s)", file=out)
    missing: list[str] = []
    for key in GROUP_KEYS:
        group = config.groups.get(key)
        if group is None:
            continue
        print(f"\n{key} · {group.name} (chat {group.chat_id})", file=out)
        pics = registry.of_group(key)
        if not pics:
            missing.append(key)
            covered = " (only admins can act)" if admins else ""
            print(f"  ! no PIC{covered}", file=out)
        for pic in pics:
            print("  - " + _describe(pic), file=out)
    print("\nAdmins (may act on every ticket):", file=out)
    for pic in admins:
        print("  - " + _describe(pic), file=out)
    if not admins:
        print("  ! none", file=out)
    if missing:
        print(f"\nGroups without a PIC: {', '.join(missing)}", file=out)
    else:
        print("\nEvery group has at least one PIC.", file=out)
    return 0


def _describe(pic: PicConfig) -> str:
    extra = ", admin" if pic.admin else ""
    return (f"{pic.name} · {pic.agency} · surat tugas {pic.surat_tugas} · telegram {pic.telegram_id}"
            f" · groups {', '.join(pic.groups) or '-'}{extra}")

