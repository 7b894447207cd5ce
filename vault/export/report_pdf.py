"""report.pdf of a litigation export: the bundle read aloud for people (a judge, the other party's expert).

Bilingual (French first, the seeds' customers are French; English after each heading). A cover
page (case, scope, the trust anchors' SHA-256 fingerprints), a "how to verify" page in plain
language, then per session a timeline sorted by time, then each item's details (digests, batch and
root, seal certificate, TSA and genTime, verification status, disclosed values, withheld fields,
destruction record).

The statuses printed are the vault's own verdict at export time, against its own certificates:
the report says so on every page and tells the recipient how to check independently (``vault
verify --bundle`` pinned to the provider's published fingerprints, or VERIFY.md with openssl).

Layout is done here with fpdf2's low-level ``text()``/``line()``/``rect()`` (its ``table()`` and
``multi_cell()`` take milliseconds per cell, minutes for 10,000 items): our own word wrap on
cached glyph widths, rows that move to the next page with the table header repeated, long
values (hashes, ids) broken by character only when they cannot fit. The bytes are deterministic
for the same input: the PDF creation date is the export's ``created_at`` and nothing else
depends on the clock or randomness.
"""

from __future__ import annotations

import datetime as dt
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.fonts import CoreFont

#: Debian fonts-dejavu-core; without it the core PDF fonts, text folded to latin-1
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")

# geometry (mm, A4 portrait)
_PAGE_W = 210.0
_MARGIN = 15.0
_WIDTH = _PAGE_W - 2 * _MARGIN
_TOP = 18.0
_BOTTOM = 283.0
_PAD = 1.0

_GREY = (90, 90, 90)
_RULE = (190, 190, 190)
_HEAD_FILL = (228, 232, 238)
_ZEBRA = (246, 247, 249)
_RED = (180, 0, 0)
_STATUS_COLOUR = {"valid": (0, 110, 40), "invalid": _RED, "destroyed": (110, 80, 40), "pending": (90, 90, 90)}

_STATUS2 = {
    "valid": ("Valide", "Valid"),
    "invalid": ("INVALIDE", "INVALID"),
    "destroyed": ("Détruit", "Destroyed"),
    "pending": ("En attente", "Pending"),
}
_STATUS = {k: f"{fr} / {en}" for k, (fr, en) in _STATUS2.items()}
_STATE = {"sealed": "scellé / sealed", "destroyed": "détruit / destroyed"}

#: the timeline's nature of each kind: connection events, documents, signatures
_KIND = {
    "connection_metadata": ("Événement de connexion", "Connection event"),
    "session_log": ("Document : journal de session", "Document: session log"),
    "session_recording": ("Document : enregistrement", "Document: recording"),
    "request": ("Document : demande", "Document: request"),
    "signed_document": ("Signature : document signé", "Signature: signed document"),
    "transaction_proof": ("Signature : preuve de transaction", "Signature: transaction proof"),
    "correction": ("Rectification", "Correction"),
}


def _kind(kind: str) -> tuple[str, str]:
    return _KIND.get(kind, (kind, kind))


_DIGEST_LABEL = {
    "sha256": "SHA-256",
    "sha3-256": "SHA3-256",
    "salted_sha256": "SHA-256 salé / salted",
    "salted_sha3-256": "SHA3-256 salé / salted",
}

#: what the core fonts cannot encode, folded to latin-1 before NFKD and "?"
_FOLD = str.maketrans(
    {
        "’": "'",
        "‘": "'",
        "“": '"',
        "”": '"',
        "–": "-",
        "—": "-",
        "…": "...",
        "→": "->",
        "•": "-",
        "\u00a0": " ",
        "\u202f": " ",
        "≠": "!=",
        "✓": "OK",
        "✗": "X",
        "×": "x",
        "œ": "oe",
        "Œ": "OE",
    }
)


def fold_latin1(text: str) -> str:
    """``text`` with only latin-1 characters: typographic ones replaced, accents outside latin-1
    dropped (NFKD), anything else as ``?``."""
    out = []
    for ch in text.translate(_FOLD):
        if ord(ch) < 256:
            out.append(ch)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if ord(c) < 256 and not unicodedata.combining(c))
        out.append(base or "?")
    return "".join(out)


@dataclass(frozen=True)
class Seg:
    """A run of text in one style; each segment of a cell starts on a new line."""

    text: str
    style: str = "sans"  # sans | bold | mono
    size: float = 7.0
    colour: tuple[int, int, int] | None = None


Cell = str | Seg | Sequence[Seg]


@dataclass(frozen=True)
class Column:
    label: str
    width: float


class _PDF(FPDF):
    """Header and footer on every page; page breaks are ours (auto page break off)."""

    running_title = ""
    running_id = ""
    sans_family = "helvetica"
    unicode = False

    def _t(self, text: str) -> str:
        return text if self.unicode else fold_latin1(text)

    def header(self) -> None:
        self.set_font(self.sans_family, "", 6.5)
        self.set_text_color(*_GREY)
        self.text(_MARGIN, 10.5, self._t(self.running_title))
        self.text(_PAGE_W - _MARGIN - self.get_string_width(self._t(self.running_id)), 10.5, self._t(self.running_id))
        self.set_draw_color(*_RULE)
        self.set_line_width(0.2)
        self.line(_MARGIN, 12.5, _PAGE_W - _MARGIN, 12.5)
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_draw_color(*_RULE)
        self.set_line_width(0.2)
        self.line(_MARGIN, 285.5, _PAGE_W - _MARGIN, 285.5)
        self.set_font(self.sans_family, "", 6.0)
        self.set_text_color(*_GREY)
        self.text(
            _MARGIN,
            288.5,
            self._t("Statuts calculés par le coffre-fort lors de l'export : pas une vérification indépendante."),
        )
        self.text(_MARGIN, 291.2, "Statuses computed by the vault at export time: not an independent check.")
        self.set_xy(_PAGE_W - _MARGIN - 30, 286.4)
        self.cell(30, 3, f"Page {self.page_no()} / {{pages}}", align="R")  # cell(): text() does not substitute
        self.set_text_color(0, 0, 0)


class _Report:
    def __init__(self, export: Mapping[str, Any], disclosed: Mapping[str, Mapping[str, object]], font_dir: Path):
        self.export = export
        self.disclosed = disclosed
        pdf = _PDF(orientation="P", unit="mm", format="A4")
        pdf.set_auto_page_break(False)
        pdf.set_margins(_MARGIN, _TOP, _MARGIN)
        pdf.alias_nb_pages("{pages}")  # wide enough for 5 digits
        sans, bold, mono = (font_dir / n for n in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf"))
        self.unicode = sans.is_file() and bold.is_file()
        if self.unicode:
            pdf.add_font("dejavu", "", str(sans))
            pdf.add_font("dejavu", "B", str(bold))
            self.fonts = {"sans": ("dejavu", ""), "bold": ("dejavu", "B"), "mono": ("courier", "")}
            if mono.is_file():
                pdf.add_font("dejavumono", "", str(mono))
                self.fonts["mono"] = ("dejavumono", "")
        else:
            self.fonts = {"sans": ("helvetica", ""), "bold": ("helvetica", "B"), "mono": ("courier", "")}
        for family, weight in self.fonts.values():  # loaded now, for their glyph widths (no page yet: no output)
            pdf.set_font(family, weight, 8)
        pdf.sans_family = self.fonts["sans"][0]
        pdf.unicode = self.unicode
        created = _parse_time(str(export.get("created_at", "")))
        pdf.set_creation_date(created or dt.datetime(1980, 1, 1, tzinfo=dt.UTC))
        case = str(export.get("case", ""))
        pdf.set_title(self.t(f"Export {export.get('id', '')} - {case}"))
        pdf.set_subject(self.t("Rapport d'export probatoire / Litigation export report"))
        pdf.set_author(self.t(f"evidence vault, tenant {export.get('tenant', '')}"))
        pdf.set_creator("evidence-vault")
        pdf.set_lang("fr")
        pdf.running_title = f"Rapport d'export / Export report - Affaire / Case {case}"
        pdf.running_id = str(export.get("id", ""))
        self.pdf = pdf
        self.y = _TOP
        self._widths: dict[tuple[str, str], dict[str, float]] = {}
        self.batches = {b.get("seq"): b for b in export.get("batches", []) or []}
        anchors = export.get("anchors", {}) or {}
        self.seal_certs = {c.get("sha256"): c for c in anchors.get("seal_certificates", []) or []}
        self.tsa_certs = {c.get("sha256"): c for c in anchors.get("tsa_certificates", []) or []}
        self.links: dict[str, int] = {}
        self._font_state = ("", 0.0)
        self.continued = ""  # the title repeated above a table that goes on on a new page

    # -- text primitives -------------------------------------------------------------------

    def t(self, text: str) -> str:
        return text if self.unicode else fold_latin1(text)

    def font(self, style: str, size: float) -> None:
        if (style, size) == self._font_state:
            return
        family, weight = self.fonts[style]
        self.pdf.set_font(family, weight, size)
        self._font_state = (style, size)

    def width(self, text: str, style: str, size: float) -> float:
        """Width in mm of ``text`` (already folded) at ``size`` points: the sum of the font's glyph
        widths, cached per character (fpdf2's get_string_width costs ~15 µs a call)."""
        key = self.fonts[style]
        table = self._widths.get(key)
        if table is None:
            table = self._widths[key] = {}
        font = self.pdf.fonts[key[0] + key[1]]
        total = 0.0
        for ch in text:
            w = table.get(ch)
            if w is None:
                cw: Any = font.cw
                w = table[ch] = float(cw[ch] if isinstance(font, CoreFont) else cw[ord(ch)]) * 0.001 / self.pdf.k
            total += w
        return total * size

    def wrap(self, text: str, width: float, style: str, size: float) -> list[str]:
        """Lines of ``text`` no wider than ``width``: broken at spaces, a word too long for a
        line (a hash, an id) broken between characters."""
        text = self.t(text)
        space = self.width(" ", style, size)
        lines: list[str] = []
        for para in text.split("\n"):
            line, used = "", 0.0
            for word in para.split(" "):
                w = self.width(word, style, size)
                if line and used + space + w <= width:
                    line, used = f"{line} {word}", used + space + w
                    continue
                if line:
                    lines.append(line)
                    line, used = "", 0.0
                if w <= width:
                    line, used = word, w
                    continue
                chunk, cw = "", 0.0
                for ch in word:
                    c = self.width(ch, style, size)
                    if chunk and cw + c > width:
                        lines.append(chunk)
                        chunk, cw = "", 0.0
                    chunk, cw = chunk + ch, cw + c
                line, used = chunk, cw
            lines.append(line)
        return lines

    def new_page(self) -> None:
        self.pdf.add_page()
        self._font_state = ("", 0.0)  # the header and footer set theirs
        self.y = _TOP

    def ensure(self, height: float) -> bool:
        """Start a new page unless ``height`` fits below; True when it did."""
        if self.y + height <= _BOTTOM:
            return False
        self.new_page()
        return True

    def paragraph(
        self,
        text: str,
        *,
        style: str = "sans",
        size: float = 8.5,
        indent: float = 0.0,
        after: float = 1.5,
        colour: tuple[int, int, int] | None = None,
    ) -> None:
        lh = size * 0.48
        self.font(style, size)
        if colour:
            self.pdf.set_text_color(*colour)
        for line in self.wrap(text, _WIDTH - indent, style, size):
            if self.ensure(lh):
                self.font(style, size)
                if colour:
                    self.pdf.set_text_color(*colour)
            self.pdf.text(_MARGIN + indent, self.y + lh * 0.78, line)
            self.y += lh
        if colour:
            self.pdf.set_text_color(0, 0, 0)
        self.y += after

    def heading(self, text: str, level: int = 1, *, outline: bool = True) -> None:
        size = {0: 16.0, 1: 13.0, 2: 10.5}[level]
        self.ensure(size * 0.5 + 14)  # never alone at the bottom of a page
        self.y += 2.0 if level else 0.0
        if outline and level <= 2:
            self.pdf.y = self.y
            self.pdf.start_section(self.t(text)[:120], level=max(level - 1, 0))
        self.paragraph(text, style="bold", size=size, after=1.0 if level == 2 else 2.0)
        if level <= 1:
            self.pdf.set_draw_color(*_RULE)
            self.pdf.line(_MARGIN, self.y - 1.0, _PAGE_W - _MARGIN, self.y - 1.0)
            self.y += 1.0

    # -- tables ----------------------------------------------------------------------------

    def _segments(self, cell: Cell) -> list[Seg]:
        if isinstance(cell, str):
            return [Seg(cell)]
        if isinstance(cell, Seg):
            return [cell]
        return list(cell)

    def _layout(self, cell: Cell, width: float) -> list[tuple[Seg, list[str]]]:
        return [(s, self.wrap(s.text, width - 2 * _PAD, s.style, s.size)) for s in self._segments(cell)]

    @staticmethod
    def _height(laid: list[tuple[Seg, list[str]]]) -> float:
        return sum(len(lines) * s.size * 0.46 for s, lines in laid)

    def _draw(self, laid: list[tuple[Seg, list[str]]], x: float, y: float) -> None:
        for seg, lines in laid:
            lh = seg.size * 0.46
            self.font(seg.style, seg.size)
            if seg.colour:
                self.pdf.set_text_color(*seg.colour)
            for line in lines:
                self.pdf.text(x + _PAD, y + lh * 0.8, line)
                y += lh
            if seg.colour:
                self.pdf.set_text_color(0, 0, 0)

    def table_header(self, columns: Sequence[Column]) -> None:
        laid = [self._layout(Seg(c.label, "bold", 6.8), c.width) for c in columns]
        h = max(self._height(cell) for cell in laid) + 2 * _PAD
        self.pdf.set_fill_color(*_HEAD_FILL)
        self.pdf.rect(_MARGIN, self.y, _WIDTH, h, style="F")
        x = _MARGIN
        for c, cell in zip(columns, laid, strict=True):
            self._draw(cell, x, self.y + _PAD)
            x += c.width
        self.y += h

    def table_row(
        self,
        columns: Sequence[Column],
        cells: Sequence[Cell],
        *,
        zebra: bool = False,
        link: tuple[int, int] | None = None,
    ) -> None:
        """One row; on a new page when it does not fit, the header repeated. ``link`` = (column, link id)."""
        laid = [self._layout(cell, c.width) for c, cell in zip(columns, cells, strict=True)]
        h = max(self._height(cell) for cell in laid) + 2 * _PAD
        if self.ensure(h):
            if self.continued:
                self.paragraph(f"{self.continued} (suite / continued)", style="bold", size=8, after=1.0)
            self.table_header(columns)
        if zebra:
            self.pdf.set_fill_color(*_ZEBRA)
            self.pdf.rect(_MARGIN, self.y, _WIDTH, h, style="F")
        x = _MARGIN
        for i, (c, cell) in enumerate(zip(columns, laid, strict=True)):
            self._draw(cell, x, self.y + _PAD)
            if link is not None and link[0] == i:
                self.pdf.link(x, self.y, c.width, h, link[1])
            x += c.width
        self.y += h
        self.pdf.set_draw_color(*_RULE)
        self.pdf.set_line_width(0.1)
        self.pdf.line(_MARGIN, self.y, _PAGE_W - _MARGIN, self.y)

    def table(self, columns: Sequence[Column], rows: Iterable[Sequence[Cell]]) -> None:
        self.ensure(12)
        self.table_header(columns)
        for i, row in enumerate(rows):
            self.table_row(columns, row, zebra=i % 2 == 1)
        self.y += 3.0

    def fields(
        self,
        rows: Iterable[tuple[str, Cell]],
        *,
        label_width: float = 46.0,
        indent: float = 0.0,
        label_size: float = 6.8,
        leading: float = 0.46,
        gap: float = 0.6,
    ) -> None:
        """Label / value lines; a value longer than the page continues on the next one."""
        value_width = _WIDTH - indent - label_width
        for label, cell in rows:
            labels = self.wrap(label, label_width - 2 * _PAD, "sans", label_size)
            laid = self._layout(cell, value_width)
            lines: list[tuple[Seg, str]] = [(seg, line) for seg, ls in laid for line in ls] or [(Seg(""), "")]
            lines += [(Seg("", size=label_size), "")] * (len(labels) - len(lines))
            for i, (seg, line) in enumerate(lines):
                lh = max(seg.size, label_size) * leading
                self.ensure(lh)
                if i < len(labels):
                    self.font("sans", label_size)
                    self.pdf.set_text_color(*_GREY)
                    self.pdf.text(_MARGIN + indent + _PAD, self.y + lh * 0.8, labels[i])
                    self.pdf.set_text_color(0, 0, 0)
                if line:
                    self.font(seg.style, seg.size)
                    if seg.colour:
                        self.pdf.set_text_color(*seg.colour)
                    self.pdf.text(_MARGIN + indent + label_width + _PAD, self.y + lh * 0.8, line)
                    if seg.colour:
                        self.pdf.set_text_color(0, 0, 0)
                self.y += lh
            self.y += gap

    # -- the report ------------------------------------------------------------------------

    def render(self) -> bytes:
        items = [i for i in self.export.get("items", []) or [] if isinstance(i, Mapping)]
        sessions: dict[str, list[Mapping[str, Any]]] = {}
        for item in sorted(items, key=_item_order):
            sessions.setdefault(str(item.get("session", "")), []).append(item)
        ordered = sorted(sessions.items(), key=lambda kv: (_item_order(kv[1][0]), kv[0]))
        self.cover(items, len(ordered))
        for item in items:  # a page for now, set to the item's details when they are drawn
            self.links[str(item.get("id", ""))] = self.pdf.add_link(page=1)
        self.how_to_verify()
        self.new_page()
        self.heading("Chronologie par session / Timeline per session", 1)
        self.paragraph(
            "Pour chaque session, les éléments dans l'ordre de leur réception par le coffre-fort. « Reçu » est "
            "l'heure de réception déclarée par le coffre-fort ; « Horodaté » est l'heure (genTime) du jeton "
            "d'horodatage RFC 3161 de son lot, délivré par l'autorité d'horodatage : l'élément existait au plus "
            "tard à cette heure. Cliquez sur un identifiant pour ses détails.",
            size=7.5,
            after=0.5,
        )
        self.paragraph(
            "For each session, the items in the order the vault received them. 'Received' is the vault's own "
            "receipt time; 'Timestamped' is the time (genTime) of its batch's RFC 3161 timestamp token, issued by "
            "the timestamping authority: the item existed no later than that. Click an id for its details.",
            size=7.5,
            colour=_GREY,
        )
        for session, members in ordered:
            self.timeline(session, members)
        self.new_page()
        self.heading("Détail des éléments / Item details", 1)
        for session, members in ordered:
            self.heading(f"Session {session}", 2)
            for item in members:
                self.details(item)
        return bytes(self.pdf.output())

    def cover(self, items: Sequence[Mapping[str, Any]], session_count: int) -> None:
        e = self.export
        self.new_page()
        self.pdf.y = self.y
        self.pdf.start_section(self.t("Page de garde / Cover"), level=0)
        self.y += 4
        self.paragraph("Rapport d'export probatoire", style="bold", size=18, after=0.5)
        self.paragraph("Litigation export report", style="bold", size=14, colour=_GREY, after=4)
        by = e.get("created_by") or {}
        sel = e.get("selection") or {}
        states = _count(str(i.get("state", "")) for i in items)
        statuses = _count(str((i.get("verification") or {}).get("status", "")) for i in items)
        rows: list[tuple[str, Cell]] = [
            ("Affaire / Case", Seg(str(e.get("case", "")), "bold", 10)),
            ("Client (tenant) / Tenant", Seg(str(e.get("tenant", "")), size=8.5)),
            ("Identifiant de l'export / Export id", Seg(str(e.get("id", "")), "mono", 8)),
            ("Format", Seg(str(e.get("type", "vault-export/1")), "mono", 8)),
            ("Créé le / Created at", Seg(f"{e.get('created_at', '')}  ({_human(e.get('created_at'))})", size=8.5)),
            (
                "Créé par / Created by",
                Seg(f"{by.get('actor', '')} (rôle / role : {by.get('role', '')})", size=8.5),
            ),
            ("Sélection / Selection", [Seg(s, size=8.5) for s in _selection(sel)]),
            (
                "Champs divulgués / Disclosed fields",
                Seg(", ".join(map(str, e.get("disclosed_fields") or [])) or "aucun / none", size=8.5),
            ),
            (
                "Éléments / Items",
                [
                    Seg(
                        f"{len(items)} élément(s) dans {session_count} session(s) / "
                        f"{len(items)} item(s) in {session_count} session(s)",
                        "bold",
                        8.5,
                    ),
                    Seg("état / state : " + ", ".join(f"{_STATE.get(k, k)} {v}" for k, v in states), size=8.5),
                    Seg("statut / status : " + ", ".join(f"{_STATUS.get(k, k)} {v}" for k, v in statuses), size=8.5),
                ],
            ),
            (
                "Lots / Batches",
                Seg(
                    f"{len(e.get('batches') or [])} lot(s) scellé(s) et horodaté(s) / sealed and timestamped batch(es)"
                    + (
                        f", {len(e.get('chain') or [])} lot(s) intermédiaire(s) pour la chaîne / "
                        "in-between batch(es) for the chain"
                        if e.get("chain")
                        else ""
                    ),
                    size=8.5,
                ),
            ),
        ]
        self.fields(rows, label_width=52)
        self.y += 3
        self.notice()
        self.heading("Ancres de confiance / Trust anchors", 2)
        self.paragraph(
            "Empreintes SHA-256 des certificats contenus dans le dossier (certs/). Comparez-les avec celles que le "
            "prestataire publie par un autre canal (/v1/certificates, contrat) : si elles diffèrent, rien de ce "
            "dossier ne peut être tenu pour authentique.",
            size=7.5,
            after=0.5,
        )
        self.paragraph(
            "SHA-256 fingerprints of the certificates in the bundle (certs/). Compare them with the ones the "
            "provider publishes through another channel (/v1/certificates, contract): if they differ, nothing in "
            "this bundle can be taken as authentic.",
            size=7.5,
            colour=_GREY,
        )
        anchors = e.get("anchors") or {}
        roles = (
            ("seal_ca", "AC de scellement / Seal CA"),
            ("seal_certificates", "Certificat de scellement / Sealing certificate"),
            ("tsa_ca", "AC d'horodatage / TSA CA"),
            ("tsa_certificates", "Autorité d'horodatage / Timestamping authority"),
        )
        columns = (
            Column("Rôle / Role", 38),
            Column("Sujet et empreinte SHA-256 / Subject and SHA-256 fingerprint", 118),
            Column("Expire le / Not after", 24),
        )
        rows2: list[list[Cell]] = []
        for key, role in roles:
            for cert in anchors.get(key) or []:
                label = role
                if cert.get("self_operated"):
                    label += " (opérée par le prestataire / self-operated)"
                rows2.append(
                    [
                        label,
                        [Seg(str(cert.get("subject", ""))), Seg(str(cert.get("sha256", "")), "mono", 6.5)],
                        str(cert.get("not_after", ""))[:10],
                    ]
                )
        self.table(columns, rows2)

    def notice(self) -> None:
        """The boxed warning: the statuses are the vault's own."""
        text_fr = (
            "Les statuts imprimés dans ce rapport (Valide, Invalide, Détruit) ont été calculés par le coffre-fort "
            "lui-même au moment de l'export, avec ses propres certificats. Ce n'est pas une vérification "
            "indépendante : la preuve est le fichier ZIP, à vérifier comme expliqué page suivante."
        )
        text_en = (
            "The statuses printed in this report (Valid, Invalid, Destroyed) were computed by the vault itself at "
            "export time, against its own certificates. This is not an independent verification: the evidence is "
            "the ZIP file, to be checked as explained on the next page."
        )
        fr = self.wrap(text_fr, _WIDTH - 6, "bold", 7.8)
        en = self.wrap(text_en, _WIDTH - 6, "sans", 7.8)
        lh = 7.8 * 0.48
        h = (len(fr) + len(en)) * lh + 6
        self.ensure(h)
        self.pdf.set_fill_color(255, 244, 220)
        self.pdf.set_draw_color(200, 150, 60)
        self.pdf.set_line_width(0.3)
        self.pdf.rect(_MARGIN, self.y, _WIDTH, h, style="DF")
        y = self.y + 2.5
        for style, lines in (("bold", fr), ("sans", en)):
            self.font(style, 7.8)
            for line in lines:
                self.pdf.text(_MARGIN + 3, y + lh * 0.78, line)
                y += lh
            y += 1
        self.y += h + 4

    def how_to_verify(self) -> None:
        for heading, sections in (("Comment vérifier ce dossier", _HOWTO_FR), ("How to verify this bundle", _HOWTO_EN)):
            self.new_page()
            self.heading(heading, 1)
            for title, body in sections:
                self.paragraph(title, style="bold", size=9, after=0.8)
                for para in body:
                    if para.startswith("$ "):
                        self.paragraph(para[2:], style="mono", size=7.5, indent=6, after=1.2)
                    else:
                        self.paragraph(para, size=8.5, indent=3, after=1.5)
                self.y += 1

    def timeline(self, session: str, members: Sequence[Mapping[str, Any]]) -> None:
        self.heading(f"Session {session}", 2)
        columns = (
            Column("Reçu / Received (UTC)", 21),
            Column("Horodaté / Timestamped (UTC)", 21),
            Column("Lot / Batch", 10),
            Column("Nature / Kind", 38),
            Column("Élément / Item", 40),
            Column("Valeurs divulguées / Disclosed values", 33),
            Column("Statut / Status", 17),
        )
        self.ensure(20)
        self.table_header(columns)
        self.continued = f"Session {session}"
        for n, item in enumerate(members):
            item_id = str(item.get("id", ""))
            batch = self.batches.get(item.get("batch"))
            status = str((item.get("verification") or {}).get("status", ""))
            values = self.disclosed.get(item_id, {})
            shown: list[Seg] = [Seg(_short(f"{k} = {_value(values[k])}", 90), size=6.5) for k in sorted(values)]
            if not shown and item.get("withheld"):
                shown = [Seg("non divulgué / withheld", size=6.5, colour=_GREY)]
            fr, en = _kind(str(item.get("kind", "")))
            colour = _STATUS_COLOUR.get(status)
            st_fr, st_en = _STATUS2.get(status, (status, ""))
            cells: list[Cell] = [
                Seg(_human(item.get("received_at")), size=6.5),
                Seg(_human(batch.get("timestamp")) if batch else "—", size=6.5),
                Seg(str(item.get("batch")) if item.get("batch") is not None else "—", size=6.5),
                [Seg(fr, size=6.5), Seg(en, size=6.5, colour=_GREY)],
                Seg(item_id, "mono", 6),
                shown or Seg("—", size=6.5),
                [Seg(st_fr, "bold", 6.5, colour), Seg(st_en, "bold", 6.5, colour)]
                if st_en
                else Seg(st_fr, "bold", 6.5),
            ]
            self.table_row(columns, cells, zebra=n % 2 == 1, link=(4, self.links[item_id]))
        self.continued = ""
        self.y += 4

    def details(self, item: Mapping[str, Any]) -> None:
        item_id = str(item.get("id", ""))
        kind = str(item.get("kind", ""))
        verification = item.get("verification") or {}
        status = str(verification.get("status", ""))
        fr, en = _kind(kind)
        label = self.t(_STATUS.get(status, status))
        label_w = self.width(label, "bold", 7.5)
        id_w = self.width(self.t(item_id), "bold", 7.5) + 4
        title = self.wrap(f"{fr} / {en}", _WIDTH - id_w - label_w - 6, "sans", 7.2)
        lh = 7.5 * 0.46
        h = len(title) * lh + 1.6
        self.ensure(h + 20)  # the title bar with a few lines under it
        self.pdf.set_link(self.links[item_id], y=self.y, page=self.pdf.page_no())
        self.pdf.set_fill_color(*_HEAD_FILL)
        self.pdf.rect(_MARGIN, self.y, _WIDTH, h, style="F")
        base = self.y + 0.8 + lh * 0.8
        self.font("bold", 7.5)
        self.pdf.text(_MARGIN + _PAD, base, self.t(item_id))
        self._draw([(Seg("", "sans", 7.2), title)], _MARGIN + id_w, self.y + 0.8)
        self.font("bold", 7.5)
        self.pdf.set_text_color(*_STATUS_COLOUR.get(status, (0, 0, 0)))
        self.pdf.text(_PAGE_W - _MARGIN - _PAD - label_w, base, label)
        self.pdf.set_text_color(0, 0, 0)
        self.y += h + 1
        self.fields(self._detail_rows(item), indent=2, label_width=34, label_size=6.2, leading=0.43, gap=0.4)
        self.y += 2.5

    def _detail_rows(self, item: Mapping[str, Any]) -> list[tuple[str, Cell]]:
        item_id = str(item.get("id", ""))
        content = item.get("content") or {}
        state = str(item.get("state", ""))
        flags = [_STATE.get(state, state)]
        if item.get("restricted"):
            flags.append("limité (RGPD art. 18) / restricted (GDPR art. 18)")
        if item.get("archived"):
            flags.append("archivé / archived")
        rows: list[tuple[str, Cell]] = [
            (
                "Élément / Item",
                [
                    Seg(
                        f"session {item.get('session', '')} — type / kind {item.get('kind', '')} — "
                        f"finalité / purpose {item.get('purpose', '')}"
                    ),
                    Seg(f"reçu le / received at {item.get('received_at', '')} — {', '.join(flags)}"),
                ],
            )
        ]
        digests: list[Seg] = []
        size = f"{content['size']} octets / bytes" if "size" in content else ""
        if item.get("salted"):
            note = (
                "empreintes salées, sel dans content-salt.hex / salted digests, salt in content-salt.hex"
                if item.get("payload")
                else "empreintes salées ; ni sel ni contenu dans le dossier / salted digests; neither salt nor "
                "content in the bundle"
            )
            digests.append(Seg(f"{size} — {note}" if size else note))
        elif size:
            digests.append(Seg(size))
        known = [n for n in ("sha256", "sha3-256", "salted_sha256", "salted_sha3-256") if n in content]
        pad = max((len(_DIGEST_LABEL[n]) for n in known), default=0) + 2
        digests += [Seg(f"{_DIGEST_LABEL[n] + ' :':<{pad}}{content[n]}", "mono", 6.2) for n in known]
        others = sorted(set(content) - {"size", "sha256", "sha3-256", "salted_sha256", "salted_sha3-256"})
        digests += [Seg(f"{n} : {_value(content[n])}", "mono", 6.2) for n in others]
        rows.append(("Contenu / Content", digests or Seg("—")))
        files = f"{item.get('dir', '')}/ : evidence.json, path.json"
        if item.get("payload"):
            files += ", payload"
        if item.get("salted") and item.get("payload"):
            files += ", content-salt.hex"
        if item.get("disclosed"):
            files += ", disclosures.json"
        destruction = item.get("destruction")
        if isinstance(destruction, Mapping):
            files += ", destruction.json"
            if destruction.get("batch") is not None:
                files += ", destruction-path.json"
        rows.append(("Dossier / Bundle", Seg(files, "mono", 6.2)))
        batch = self.batches.get(item.get("batch"))
        if batch:
            seal_fp, tsa_fp = str(batch.get("seal_certificate", "")), str(batch.get("tsa_certificate", ""))
            tsa = self.tsa_certs.get(tsa_fp, {})
            operated = " — opérée par le prestataire / self-operated" if tsa.get("self_operated") else ""
            rows += [
                (
                    "Lot / Batch",
                    [
                        Seg(f"n° / seq {batch.get('seq')} — horodaté le / timestamped at {batch.get('timestamp', '')}"),
                        Seg(f"racine / root : {batch.get('root', '')}", "mono", 6.2),
                    ],
                ),
                (
                    "Scellé par / Sealed by",
                    Seg(f"SHA-256 {seal_fp}  {_name(self.seal_certs.get(seal_fp, {}).get('subject'))}", "mono", 6.2),
                ),
                (
                    "Horodaté par / TSA",
                    Seg(f"SHA-256 {tsa_fp}  {_name(tsa.get('subject'))}{operated}", "mono", 6.2),
                ),
            ]
        else:
            rows.append(("Lot / Batch", Seg(f"{item.get('batch')} (absent du dossier / not in the bundle)")))
        verification = item.get("verification") or {}
        status = str(verification.get("status", ""))
        checks = [c for c in verification.get("checks") or [] if isinstance(c, Mapping)]
        passed_names: dict[str, int] = {}  # in the order the vault ran them
        for c in checks:
            if c.get("ok"):
                passed_names[str(c.get("name", ""))] = passed_names.get(str(c.get("name", "")), 0) + 1
        passed = [f"{name} ×{n}" if n > 1 else name for name, n in passed_names.items()]
        npassed = sum(passed_names.values())
        result: list[Seg] = [
            Seg(
                f"{_STATUS.get(status, status)} — {npassed}/{len(checks)} contrôles réussis / checks passed"
                + (f" ({', '.join(passed)})" if passed else ""),
                "bold",
                6.5,
                _STATUS_COLOUR.get(status),
            )
        ]
        result += [
            Seg(
                f"ÉCHEC / FAILED {c.get('name', '')} : {c.get('detail', '')}",
                size=6.5,
                colour=_STATUS_COLOUR["invalid"],
            )
            for c in checks
            if not c.get("ok")
        ]
        rows.append(("Statut / Status", result))
        values = self.disclosed.get(item_id, {})
        names = sorted({*map(str, item.get("disclosed") or []), *values})
        if names:
            rows.append(
                (
                    "Divulgué / Disclosed",
                    [
                        Seg(f"{n} = {_value(values[n])}" if n in values else f"{n} : valeur absente / value missing")
                        for n in names
                    ],
                )
            )
        withheld = [str(n) for n in item.get("withheld") or []]
        if withheld:
            rows.append(
                (
                    "Non divulgué / Withheld",
                    Seg(
                        ", ".join(withheld) + " — seul leur engagement salé est scellé / only their salted commitment "
                        "is sealed"
                    ),
                )
            )
        if isinstance(destruction, Mapping):
            sealed_in = destruction.get("batch")
            rows.append(
                (
                    "Destruction",
                    [
                        Seg(
                            f"{destruction.get('action', '')} le / at {destruction.get('at', '')} — règle / rule : "
                            f"{destruction.get('rule', '')}",
                            "bold",
                            6.5,
                        ),
                        Seg(
                            f"journal : {destruction.get('record', '')} — "
                            + (
                                f"scellé dans le lot / sealed in batch {sealed_in}"
                                if sealed_in is not None
                                else "pas encore scellé / not sealed yet"
                            ),
                            size=6.5,
                        ),
                        Seg(
                            "Contenu effacé : le dossier prouve que l'élément a existé et que sa destruction a été "
                            "journalisée. / Content erased: the bundle proves the item existed and that its "
                            "destruction was recorded.",
                            size=6.2,
                            colour=_GREY,
                        ),
                    ],
                )
            )
        return rows


_HOWTO_FR: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "1. Ce que ce rapport est, et ce qu'il n'est pas",
        (
            "Ce rapport décrit, pour des lecteurs humains, le contenu du fichier ZIP qui l'accompagne (l'export). "
            "Les statuts qu'il imprime (Valide, Invalide, Détruit) ont été calculés par le coffre-fort lui-même au "
            "moment de l'export, avec ses propres certificats. Ce n'est donc pas une vérification indépendante : un "
            "système compromis ou mal configuré pourrait imprimer « Valide ». La preuve n'est pas ce rapport, c'est "
            "le fichier ZIP, que chacun peut vérifier lui-même sans faire confiance au coffre-fort.",
        ),
    ),
    (
        "2. Obtenir les empreintes publiées par le prestataire",
        (
            "Demandez au prestataire, par un autre canal que ce dossier (son site, son point d'accès "
            "/v1/certificates, le contrat, un courrier), les empreintes SHA-256 de ses certificats de scellement et "
            "de ses autorités de certification. Elles doivent être identiques à celles de la page de garde. Si elles "
            "diffèrent, le dossier a pu être fabriqué par quelqu'un d'autre.",
        ),
    ),
    (
        "3. Vérifier avec l'outil du coffre-fort (logiciel libre)",
        (
            "Sur le fichier ZIP reçu, en donnant une option --fingerprint par empreinte publiée par le prestataire "
            "(jamais celles lues dans le dossier) :",
            "$ vault verify --bundle FICHIER.zip --fingerprint <sha256 publiée>",
            "L'outil refuse le dossier si ses certificats ne correspondent pas à ces empreintes, puis contrôle "
            "chaque élément et affiche le résultat.",
        ),
    ),
    (
        "4. Ou vérifier sans aucun logiciel du prestataire",
        (
            "Décompressez le fichier ZIP et suivez le fichier VERIFY.md qu'il contient : chaque étape est une "
            "commande openssl (ou sha256sum, grep, cat, xxd) avec les valeurs attendues déjà écrites. Un expert "
            "peut ainsi tout refaire avec des outils standard.",
        ),
    ),
    (
        "5. Ce que la vérification prouve",
        (
            "Pour chaque élément : son contenu correspond aux empreintes scellées ; il appartient à un lot dont la "
            "racine a été signée (scellée) par le prestataire et horodatée par une autorité d'horodatage (RFC 3161). "
            "L'élément existait donc au plus tard à l'heure de l'horodatage (genTime) et n'a pas été modifié depuis.",
            "Les champs « non divulgués » ne sont pas dans le dossier : seul un engagement salé (une empreinte) est "
            "scellé. Les champs divulgués peuvent être comparés à leur engagement. Pour un élément détruit, le "
            "contenu a été effacé selon la règle de conservation ; le dossier prouve que l'élément a existé et que "
            "sa destruction a été enregistrée, pas ce qu'il contenait.",
        ),
    ),
    (
        "6. Si une vérification échoue",
        (
            "Un échec signifie que le fichier a été modifié, qu'il manque une pièce, ou que les certificats ne sont "
            "pas ceux du prestataire. L'élément concerné ne doit pas être tenu pour authentique tant que la cause "
            "n'est pas expliquée.",
        ),
    ),
)

_HOWTO_EN: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "1. What this report is, and what it is not",
        (
            "This report describes, for human readers, the content of the ZIP file that comes with it (the export). "
            "The statuses it prints (Valid, Invalid, Destroyed) were computed by the vault itself at export time, "
            "against its own certificates. So this is not an independent verification: a compromised or "
            "misconfigured system could print 'Valid'. The evidence is not this report, it is the ZIP file, which "
            "anyone can check without trusting the vault.",
        ),
    ),
    (
        "2. Get the fingerprints the provider publishes",
        (
            "Ask the provider, through a channel other than this bundle (its website, its /v1/certificates "
            "endpoint, the contract, a letter), for the SHA-256 fingerprints of its sealing certificates and "
            "certification authorities. They must be identical to the ones on the cover page. If they differ, the "
            "bundle may have been made by someone else.",
        ),
    ),
    (
        "3. Check with the vault's tool (open source)",
        (
            "On the ZIP file you received, with one --fingerprint option per fingerprint the provider published "
            "(never the ones read from the bundle):",
            "$ vault verify --bundle FILE.zip --fingerprint <published sha256>",
            "The tool rejects the bundle if its certificates do not match these fingerprints, then checks every "
            "item and prints the result.",
        ),
    ),
    (
        "4. Or check without any software from the provider",
        (
            "Unzip the file and follow VERIFY.md inside it: each step is an openssl command (or sha256sum, grep, "
            "cat, xxd) with the expected values already written in. An expert can redo everything with standard "
            "tools.",
        ),
    ),
    (
        "5. What the verification proves",
        (
            "For each item: its content matches the sealed digests; it belongs to a batch whose root was signed "
            "(sealed) by the provider and timestamped by a timestamping authority (RFC 3161). The item therefore "
            "existed no later than the timestamp's time (genTime) and has not been changed since.",
            "Withheld fields are not in the bundle: only a salted commitment (a digest) is sealed. Disclosed fields "
            "can be checked against their commitment. For a destroyed item, the content was erased under the "
            "retention rule; the bundle proves that the item existed and that its destruction was recorded, not "
            "what it contained.",
        ),
    ),
    (
        "6. If a check fails",
        (
            "A failure means a file was changed, a piece is missing, or the certificates are not the provider's. "
            "The item concerned must not be taken as authentic until the cause is explained.",
        ),
    ),
)


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _human(value: object) -> str:
    """``2026-11-29 20:35:00`` (UTC, to the second) or the value as given."""
    parsed = _parse_time(value)
    if parsed is None:
        return str(value) if value else "—"
    return parsed.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _item_order(item: Mapping[str, Any]) -> tuple[float, str, str]:
    parsed = _parse_time(item.get("received_at"))
    return (parsed.timestamp() if parsed else float("inf"), str(item.get("received_at", "")), str(item.get("id", "")))


def _name(subject: object) -> str:
    """The CN of an RFC 4514 subject (the whole subject without one), for a line that also holds the fingerprint."""
    text = str(subject or "")
    for part in text.split(","):
        if part.strip().upper().startswith("CN="):
            return part.strip()[3:]
    return text


def _value(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _count(values: Iterable[str]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return sorted(counts.items())


def _selection(sel: Mapping[str, Any], limit: int = 100) -> list[str]:
    lines: list[str] = []
    for key, label in (("sessions", "sessions"), ("items", "éléments / items")):
        values = [str(v) for v in sel.get(key) or []]
        if values:
            shown = ", ".join(values[:limit])
            if len(values) > limit:
                shown += f" … (+{len(values) - limit}, liste complète dans export.json / full list in export.json)"
            lines.append(f"{label} ({len(values)}) : {shown}")
    if sel.get("from") or sel.get("to"):
        lines.append(f"période / period : {sel.get('from') or '…'} → {sel.get('to') or '…'}")
    if sel.get("hold"):
        lines.append(f"gel juridique / legal hold : {sel['hold']}")
    return lines or ["tout / everything"]


def render_report(
    export: dict[str, Any], disclosed: dict[str, dict[str, object]], *, font_dir: Path = FONT_DIR
) -> bytes:
    """report.pdf for ``export`` (export.json without "files") and the disclosed values
    (``{item id: {field: value}}``). Same input, same bytes. ``font_dir`` is for the tests (a
    folder without DejaVu makes the report fall back to the core fonts, latin-1)."""
    return _Report(export, disclosed, font_dir).render()
