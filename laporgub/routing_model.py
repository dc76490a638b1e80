"""A learned model beside the routing rules: where they find nothing, and where one keyword stands alone.

The rules (``laporgub.routing``) decide kinds, regencies and groups. This model, one
logistic regression per topic group over the words of the normalised text, is asked in
two places only:

* **instead of the catch-all**: when no topic group has any evidence, the rules would send
  the complaint to ``pelayanan_publik``; the model's groups whose probability reaches
  ``add_threshold`` receive it instead ("Anak perempuan tetangga umur 15 th dijual ke
  tempat karaoke" -> ``sosial_hukum``), unless the rules cancelled that group's keywords in
  this text (a negative keyword of the admin's, or a context: "hampir tabrakan") or a
  negative keyword of the group stands anywhere in it;
* **against a group resting on one keyword**: a group whose evidence is a single keyword
  of the shipped lists (or one piece of the rules' built-in evidence), beside another
  group, is dropped when the model gives it less than ``veto_threshold`` ("tanah longsor
  menimbun 3 rumah" buries houses: ``menimbun``, hoarding goods, is no economic matter
  here). Never ``darurat``, never the last group, never a keyword the admin added to
  config.toml, never a group the admin weighted up, never the group of a reported fraud,
  and only when the model knows a word of that keyword in the text.

Its features are readable words, so its reasons are too: each text word (``w:banjir``),
its roots as the rules read them (``r:banjir`` from ``kebanjiran``) and each pair of
neighbouring words (``b:air masuk``); a digit string is ``<n>``. A row of features is
scaled to unit length (each present feature weighs ``1/sqrt(n)``, ``n`` the features of the
text the model knows), so a feature's share of a group's score is its weight divided by
``sqrt(n)``; the largest shares are the model's reason ("model: puskesmas + tutup + dokter").

The weights ship in ``data/routing_model.tsv``, trained on every labelled corpus in
``tests/data`` by ``tools/train_routing_model.py`` (scikit-learn, at build time only; the
thresholds are chosen there by leaving each corpus out in turn). Reading the file and
scoring a text are plain Python: nothing is downloaded or imported at run time.
``docs/routing.md`` has the experiment that decided to ship it, with its figures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType

__all__ = ["MODEL_GROUPS", "ModelOpinion", "RoutingModel", "features", "load_model"]

#: The groups the model scores: the eight topic groups and ``pelayanan_publik`` (not ``kabkota``:
#: a regency is the gazetteer's).
MODEL_GROUPS: tuple[str, ...] = (
    "sosial_hukum", "kesehatan", "ekonomi_industri", "darurat", "esdm_lh", "pertanian", "infrastruktur", "energi",
    "pelayanan_publik",
)
_NUMBER = "<n>"
_DATA_FILE = "routing_model.tsv"
#: A reason lists at most this many words, each with a share of at least _MIN_SHARE.
_REASONS = 3
_MIN_SHARE = 0.05


def features(tokens: Sequence[str], roots: Sequence[Iterable[str]]) -> dict[str, str]:
    """The model's features of a normalised text, in order of first appearance.

    Args:
        tokens: the words of the normalised text.
        roots: for each word, the roots the rules read in it (affixes and the stemmer;
            the word itself may be among them).

    Returns:
        Distinct feature names -> the words of the text they come from (what a reason
        shows): ``w:word``, ``r:root`` (a root other than the word) and ``b:word word``
        (neighbours); digit strings are ``<n>``.
    """
    found: dict[str, str] = {}
    previous: tuple[str, str] | None = None
    for token, token_roots in zip(tokens, roots):
        word = _NUMBER if token.isdigit() else token
        found.setdefault(f"w:{word}", token)
        for root in sorted(token_roots):
            if root != token and root.isalpha():
                found.setdefault(f"r:{root}", token)
        if previous is not None:
            found.setdefault(f"b:{previous[0]} {word}", f"{previous[1]} {token}")
        previous = (word, token)
    return found


#: How a reason of the model starts, where keywords stand ("model: puskesmas + tutup").
MODEL_REASON = "model: "

@dataclass(frozen=True, slots=True)
class ModelOpinion:
    """What the model says about one text.

    Attributes:
        probabilities: group -> probability that the text is that group's (the groups asked).
        reasons: group -> the words that weigh most for it, with their share of its
            score (positive shares only, largest first).
    """

    probabilities: Mapping[str, float]
    reasons: Mapping[str, tuple[tuple[str, float], ...]]

    def reason(self, group: str) -> str:
        """``model: puskesmas + tutup + dokter`` (no commas: a notification lists keywords with them)."""
        words = [w for w, _ in self.reasons.get(group, ())]
        return MODEL_REASON + (" + ".join(words) if words else "-")


class RoutingModel:
    """One logistic regression per group of ``MODEL_GROUPS``, with the thresholds of its two uses.

    Attributes:
        groups: the groups it scores, in the order of its weight columns.
        add_threshold: probability from which a group receives a complaint the rules found
            no topic for.
        veto_threshold: probability under which a group resting on one keyword is dropped.
    """

    def __init__(self, groups: Sequence[str], intercepts: Sequence[float], weights: Mapping[str, Sequence[float]],
                 add_threshold: float, veto_threshold: float, header: Sequence[str] = ()) -> None:
        if len(intercepts) != len(groups) or any(len(w) != len(groups) for w in weights.values()):
            raise ValueError("every weight row needs one value per group")
        self.groups = tuple(groups)
        self.add_threshold = float(add_threshold)
        self.veto_threshold = float(veto_threshold)
        self.intercepts = tuple(float(b) for b in intercepts)
        self.weights: Mapping[str, tuple[float, ...]] = MappingProxyType(
            {f: tuple(float(v) for v in w) for f, w in weights.items()})
        self.header = tuple(header)
        self._column = {g: i for i, g in enumerate(self.groups)}

    def knows(self, token: str, roots: Iterable[str] = ()) -> bool:
        """Whether the model has weights for a text word or one of its roots."""
        word = _NUMBER if token.isdigit() else token
        return f"w:{word}" in self.weights or any(f"r:{r}" in self.weights for r in roots if r != token)

    def with_thresholds(self, add_threshold: float, veto_threshold: float) -> RoutingModel:
        """The same weights with other thresholds (for choosing them)."""
        return RoutingModel(self.groups, self.intercepts, self.weights, add_threshold, veto_threshold, self.header)

    def opinion(self, feats: Mapping[str, str], groups: Iterable[str] | None = None, *,
                reasons: bool = True) -> ModelOpinion:
        """Probabilities (and reasons) for ``groups`` (default: all) of a text's features.

        Args:
            feats: the text's features and the words they come from (``features``); those
                the model never saw count for nothing.
            groups: the groups to score.
            reasons: whether to work out each group's reason (by the words of the text:
                ``kebanjiran`` and its root ``banjir`` are one word).

        Returns:
            The opinion.
        """
        asked = [g for g in (self.groups if groups is None else groups) if g in self._column]
        known = [(f, w) for f in feats if (w := self.weights.get(f)) is not None]
        scale = 1.0 / math.sqrt(len(known)) if known else 0.0
        probabilities: dict[str, float] = {}
        why: dict[str, tuple[tuple[str, float], ...]] = {}
        for g in asked:
            col = self._column[g]
            z = self.intercepts[col] + scale * sum(w[col] for _, w in known)
            probabilities[g] = 1.0 / (1.0 + math.exp(-z)) if z > -700 else 0.0
            if reasons:
                shares: dict[str, float] = {}
                for f, w in known:
                    if w[col]:
                        shown = feats[f]
                        shares[shown] = shares.get(shown, 0.0) + w[col] * scale
                top = sorted(((s, w) for w, s in shares.items() if s >= _MIN_SHARE), key=lambda sw: (-sw[0], sw[1]))
                why[g] = tuple((w, round(s, 2)) for s, w in top[:_REASONS])
        return ModelOpinion(MappingProxyType(probabilities), MappingProxyType(why))

    # -- the data file -------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> RoutingModel:
        """Read the data file's text: ``#`` comments, then ``groups``, ``add_threshold``,
        ``veto_threshold`` and ``intercept`` lines, then one ``feature<TAB>weights`` line each,
        tab-separated.

        Raises:
            ValueError: naming the line that is not so.
        """
        header: list[str] = []
        settings: dict[str, list[str]] = {}
        weights: dict[str, list[float]] = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            if line.startswith("#"):
                header.append(line[1:].strip())
                continue
            name, _, rest = line.partition("\t")
            values = rest.split("\t")
            try:
                if name in ("groups", "add_threshold", "veto_threshold", "intercept"):
                    settings[name] = values
                elif len(name) > 2 and name[1] == ":":
                    weights[name] = [float(v) for v in values]
                else:
                    raise ValueError(f"unknown line {name!r}")
            except ValueError as exc:
                raise ValueError(f"data/{_DATA_FILE}:{number}: {name}: {exc}") from None
        missing = [k for k in ("groups", "add_threshold", "veto_threshold", "intercept") if k not in settings]
        if missing:
            raise ValueError(f"data/{_DATA_FILE}: no {', '.join(missing)} line")
        return cls(settings["groups"], [float(v) for v in settings["intercept"]], weights,
                   float(settings["add_threshold"][0]), float(settings["veto_threshold"][0]), header)

    def dump(self) -> str:
        """The data file's text (what ``parse`` reads), features in sorted order."""
        lines = [f"# {h}" if h else "#" for h in self.header]
        lines.append("\t".join(("groups", *self.groups)))
        lines.append(f"add_threshold\t{_number(self.add_threshold)}")
        lines.append(f"veto_threshold\t{_number(self.veto_threshold)}")
        lines.append("\t".join(("intercept", *(_number(b) for b in self.intercepts))))
        lines += ["\t".join((f, *(_number(v) for v in self.weights[f]))) for f in sorted(self.weights)]
        return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


@lru_cache(maxsize=1)
def load_model() -> RoutingModel:
    """The shipped model (``data/routing_model.tsv``), read once per process."""
    return RoutingModel.parse(resources.files("laporgub").joinpath(f"data/{_DATA_FILE}").read_text(encoding="utf-8"))
