"""Test documents made here, with libraries, from the texts in shared/seeds: Kazanlak's
Integrated Development Plan 2021-2027 (seeds 000, 001) and Stara Zagora's vision to 2027
(seed 003). One description of each document is written out as DOCX (python-docx), ODT
(its XML, zipped), PDF (fpdf2), Markdown and plain text, so every format must import to
the same tree. The staff-chat tests send these same bytes.

A document is a list of parts:
    ("title", text) ("h", level, text) ("p", text) ("list", [items]) ("table", [[cells]])
    ("image", name) ("page",)  (a new page; only the PDF shows it)
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

Part = tuple[Any, ...]

KAZANLAK: list[Part] = [
    ("title", "План за интегрирано развитие на Община Казанлък 2021–2027"),
    (
        "p",
        "Планът за интегрирано развитие на Община Казанлък за периода 2021–2027 година се "
        "подлага на обществено обсъждане. Общината очаква препоръки, мнения и коментари по "
        "проекта.",
    ),
    (
        "p",
        "Документът определя регионалното и пространственото развитие на общинската "
        "територия, очертава актуалните проблеми, нуждите и потенциала за развитие на "
        "региона, средносрочните цели и приоритети.",
    ),
    ("h", 1, "Стратегическа цел 1: Технологична трансформация на икономиката"),
    (
        "p",
        "Постигане на високи темпове на устойчив интелигентен икономически растеж на основа "
        "на научноизследователска и приложна дейност в помощ на бизнеса и утвърждаване на "
        "град Казанлък като значим индустриален, културен, туристически и образователен "
        "център.",
    ),
    ("h", 2, "Приоритет 1.1: Индустриална зона Казанлък и дуално образование"),
    (
        "p",
        "Развитие на Индустриална зона Казанлък, както и на професионалното дуално "
        "образование в областите:",
    ),
    ("list", ["машиностроене;", "електротехника;", "програмиране;", "туризъм."]),
    ("table", [["Област", "Партньор"], ["Научни изследвания", "Технически колеж"]]),
    ("h", 2, "Приоритет 1.2: Техническият колеж като център за научни изследвания и иновации"),
    ("p", "Колежът предоставя услуги за предприятията в Индустриалната зона."),
    ("h", 2, "Приоритет 1.3: Технологично обновяване и бизнес инфраструктура"),
    (
        "p",
        "Технологично обновяване на производствените дейности и развитие на бизнес "
        "инфраструктурата.",
    ),
    ("page",),
    (
        "h",
        1,
        "Стратегическа цел 2: Подобряване на условията за живот и инвестиционната привлекателност",
    ),
    (
        "p",
        "На основа на подобряване на транспортната и цифрова свързаност, опазване на "
        "околната среда и адаптиране на общината към промените в климата.",
    ),
    ("image", "Карта на общината"),
    ("h", 2, "Приоритет 2.1: Транспортна и инженерно-техническа инфраструктура"),
    (
        "p",
        "Изграждане, модернизиране и поддържане на транспортната и инженерно-техническата "
        "инфраструктура, подкрепа за бизнес инициативи и предприемачество.",
    ),
    ("h", 2, "Приоритет 2.2: Традиционни земеделски производства и етерични масла"),
    (
        "p",
        "Опазване и развитие на традиционни земеделски производства и подкрепа на "
        "производството на етерични масла.",
    ),
    ("page",),
    (
        "h",
        1,
        "Стратегическа цел 3: Подобряване на условията за развитие на спорта, на социалните "
        "и административните услуги",
    ),
    (
        "p",
        "Услуги, предоставяни от компетентна, отговорна и обърната към нуждите и "
        "очакванията на обществото общинска администрация.",
    ),
    ("h", 2, "Приоритет 3.1: Малък и среден бизнес и инвестиционен интерес"),
    (
        "p",
        "Развитие на малък и среден бизнес, също така и повишаване на инвестиционния "
        "интерес към общината.",
    ),
    (
        "p",
        "Всички заинтересовани жители могат да изпратят своите коментари на електронна "
        "поща, публикувана в сайта на Община Казанлък, в срок до 10.11.2021 година.",
    ),
]

KAZANLAK_TREE = [
    ("1", "Стратегическа цел 1: Технологична трансформация на икономиката"),
    ("1.1", "Приоритет 1.1: Индустриална зона Казанлък и дуално образование"),
    ("1.2", "Приоритет 1.2: Техническият колеж като център за научни изследвания и иновации"),
    ("1.3", "Приоритет 1.3: Технологично обновяване и бизнес инфраструктура"),
    (
        "2",
        "Стратегическа цел 2: Подобряване на условията за живот и инвестиционната привлекателност",
    ),
    ("2.1", "Приоритет 2.1: Транспортна и инженерно-техническа инфраструктура"),
    ("2.2", "Приоритет 2.2: Традиционни земеделски производства и етерични масла"),
    (
        "3",
        "Стратегическа цел 3: Подобряване на условията за развитие на спорта, на социалните "
        "и административните услуги",
    ),
    ("3.1", "Приоритет 3.1: Малък и среден бизнес и инвестиционен интерес"),
]

# Stara Zagora writes its goals and priorities as a named number on a line of its own and
# the title in the next paragraph, under plain headings without numbers.
STARA_ZAGORA: list[Part] = [
    ("title", "Визия и цели за развитие на община Стара Загора"),
    ("h", 1, "Визия за развитие на община Стара Загора до 2027 г."),
    (
        "p",
        "СТАРА ЗАГОРА – модерна, просперираща община с иновативна и конкурентоспособна "
        "икономика, с балансирано териториално развитие, качествени услуги и привлекателно "
        "място за живот на своите граждани, като се използва местният потенциал, богатото "
        "природно и културно-историческо наследство.",
    ),
    ("h", 1, "Стратегически цели"),
    (
        "p",
        "Главна цел за развитие на Община Стара Загора, съгласно Плана за интегрирано "
        "развитие 2021–2027 г.: да бъде постигнато интегрирано устойчиво развитие в община "
        "Стара Загора.",
    ),
    ("p", "Стратегическа цел 1"),
    ("p", "Създаване на условия за устойчив икономически растеж и енергиен преход"),
    ("p", "Стратегическа цел 2"),
    (
        "p",
        "Повишаване на качеството на живот, жизнения стандарт и подобряване на достъпа до услуги",
    ),
    ("p", "Стратегическа цел 3"),
    (
        "p",
        "Опазване на околната среда и адаптация към климатичните промени, транспортна "
        "инфраструктура и мобилност",
    ),
    ("page",),
    ("h", 1, "Приоритети по стратегическите цели"),
    ("p", "Приоритет 1"),
    ("p", "Конкурентна икономика"),
    ("p", "Приоритет 2"),
    ("p", "Качество на живот"),
    ("p", "Приоритет 3"),
    ("p", "Иновации, образование, заетост"),
    ("p", "Приоритет 4"),
    ("p", "Зелена и свързана община"),
    ("h", 1, "Очаквани резултати"),
    (
        "p",
        "Така определените стратегически цели и приоритети трябва да доведат до следните "
        "положителни промени в развитието на община Стара Загора:",
    ),
    (
        "list",
        [
            "Ускорено икономическо развитие и конкурентоспособна местна икономика;",
            "Повишено качество на живот с достъпни услуги;",
            "Чиста околна среда и качествена зелена инфраструктура.",
        ],
    ),
]

STARA_ZAGORA_TREE = [
    ("1", "Визия за развитие на община Стара Загора до 2027 г."),
    ("2", "Стратегически цели"),
    (
        "2.1",
        "Стратегическа цел 1: Създаване на условия за устойчив икономически растеж и "
        "енергиен преход",
    ),
    (
        "2.2",
        "Стратегическа цел 2: Повишаване на качеството на живот, жизнения стандарт и "
        "подобряване на достъпа до услуги",
    ),
    (
        "2.3",
        "Стратегическа цел 3: Опазване на околната среда и адаптация към климатичните "
        "промени, транспортна инфраструктура и мобилност",
    ),
    ("3", "Приоритети по стратегическите цели"),
    ("3.1", "Приоритет 1: Конкурентна икономика"),
    ("3.2", "Приоритет 2: Качество на живот"),
    ("3.3", "Приоритет 3: Иновации, образование, заетост"),
    ("3.4", "Приоритет 4: Зелена и свързана община"),
    ("4", "Очаквани резултати"),
]

# Seed 001: Kazanlak's plan described in one block of text, no headings.
UNSTRUCTURED: list[Part] = [
    (
        "p",
        "Планът за интегрирано развитие на община Казанлък (ПИРО) за периода 2021–2027 г. е "
        "разработен в съответствие с изискванията на Закона за регионалното развитие и "
        "определя средносрочните цели и приоритети за устойчиво развитие на общината и "
        "връзките ѝ с други общини.",
    ),
    (
        "p",
        "При определянето на целите и приоритетите са взети предвид резултатите от "
        "направения социално-икономически анализ и от изпълнението на Общинския план за "
        "развитие 2014–2020 г.",
    ),
]

# A language the bot does not speak (German), with a structure all the same.
GERMAN: list[Part] = [
    ("title", "Integrierter Entwicklungsplan der Gemeinde"),
    ("h", 1, "Ziel 1: Wirtschaft"),
    ("p", "Die Gemeinde will die Wirtschaft stärken und die Zahl der Arbeitsplätze erhöhen."),
    ("h", 1, "Ziel 2: Umwelt"),
    ("p", "Der Schutz der Umwelt ist für die Bürger und die Gemeinde von großer Bedeutung."),
]


def font_path() -> Path:
    """DejaVu Sans (Cyrillic): matplotlib, a dependency, ships it; else the system's."""
    import matplotlib

    bundled = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    if bundled.exists():
        return bundled
    return Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def png(width: int = 60, height: int = 40) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 140, 200)).save(out, format="PNG")
    return out.getvalue()


def to_docx(parts: list[Part], *, heading_style: str = "Heading {level}") -> bytes:
    """`heading_style` names the heading styles, e.g. "Заглавие {level}" as a Bulgarian
    word processor writes them (custom styles: no built-in id to fall back on)."""
    import docx
    from docx.enum.style import WD_STYLE_TYPE
    from docx.shared import Pt

    document = docx.Document()
    for level in (1, 2, 3):
        name = heading_style.format(level=level)
        if name not in [style.name for style in document.styles]:
            style = document.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
            style.font.size = Pt(18 - 2 * level)
            style.font.bold = True
    for part in parts:
        kind = part[0]
        if kind == "title":
            document.add_paragraph(part[1], style="Title")
        elif kind == "h":
            document.add_paragraph(part[2], style=heading_style.format(level=part[1]))
        elif kind == "p":
            document.add_paragraph(part[1])
        elif kind == "list":
            for item in part[1]:
                document.add_paragraph(item, style="List Bullet")
        elif kind == "table":
            rows = part[1]
            table = document.add_table(rows=len(rows), cols=len(rows[0]))
            for row, cells in zip(table.rows, rows, strict=True):
                for cell, text in zip(row.cells, cells, strict=True):
                    cell.text = text
        elif kind == "image":
            document.add_picture(io.BytesIO(png()))
            document.inline_shapes[-1]._inline.docPr.set("descr", part[1])
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def with_footnote(docx_bytes: bytes, after: str, footnote: str) -> bytes:
    """The DOCX with a footnote on the paragraph that ends with `after`, written as Word
    writes one (python-docx cannot): word/footnotes.xml, its relationship and type."""
    from xml.sax.saxutils import escape

    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    source = zipfile.ZipFile(io.BytesIO(docx_bytes))
    files = {name: source.read(name) for name in source.namelist()}
    document = files["word/document.xml"].decode()
    end = document.index(escape(after)) + len(escape(after))
    end = document.index("</w:r>", end) + len("</w:r>")
    reference = '<w:r><w:footnoteReference w:id="1"/></w:r>'
    files["word/document.xml"] = (document[:end] + reference + document[end:]).encode()
    files["word/footnotes.xml"] = (
        f'<?xml version="1.0" encoding="UTF-8"?><w:footnotes xmlns:w="{w}">'
        '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p>'
        f'</w:footnote><w:footnote w:id="1"><w:p><w:r><w:t>{escape(footnote)}</w:t></w:r>'
        "</w:p></w:footnote></w:footnotes>"
    ).encode()
    rels = files["word/_rels/document.xml.rels"].decode()
    files["word/_rels/document.xml.rels"] = rels.replace(
        "</Relationships>",
        '<Relationship Id="rIdFootnotes" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/footnotes" Target="footnotes.xml"/></Relationships>',
    ).encode()
    types = files["[Content_Types].xml"].decode()
    files["[Content_Types].xml"] = types.replace(
        "</Types>",
        '<Override PartName="/word/footnotes.xml" ContentType="application/vnd.openxmlformats-'
        'officedocument.wordprocessingml.footnotes+xml"/></Types>',
    ).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return out.getvalue()


_ODT_NAMESPACES = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
    'xmlns:xlink="http://www.w3.org/1999/xlink" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" office:version="1.3"'
)


def to_odt(parts: list[Part], *, encrypted: bool = False) -> bytes:
    """An ODT as LibreOffice writes one: content.xml in a zip, "mimetype" first."""
    from xml.sax.saxutils import escape

    body: list[str] = []
    pictures: list[str] = []
    for part in parts:
        kind = part[0]
        if kind == "title":
            body.append(f'<text:p text:style-name="Title">{escape(part[1])}</text:p>')
        elif kind == "h":
            body.append(f'<text:h text:outline-level="{part[1]}">{escape(part[2])}</text:h>')
        elif kind == "p":
            body.append(f"<text:p>{escape(part[1])}</text:p>")
        elif kind == "list":
            items = "".join(
                f"<text:list-item><text:p>{escape(item)}</text:p></text:list-item>"
                for item in part[1]
            )
            body.append(f"<text:list>{items}</text:list>")
        elif kind == "table":
            rows = "".join(
                "<table:table-row>"
                + "".join(
                    f"<table:table-cell><text:p>{escape(cell)}</text:p></table:table-cell>"
                    for cell in row
                )
                + "</table:table-row>"
                for row in part[1]
            )
            body.append(f'<table:table table:name="T{len(body)}">{rows}</table:table>')
        elif kind == "image":
            name = f"Pictures/image{len(pictures) + 1}.png"
            pictures.append(name)
            body.append(
                f'<text:p><draw:frame draw:name="{escape(part[1])}"><draw:image xlink:href='
                f'"{name}"/><svg:title>{escape(part[1])}</svg:title></draw:frame></text:p>'
            )
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODT_NAMESPACES}>'
        f"<office:body><office:text>{''.join(body)}</office:text></office:body>"
        "</office:document-content>"
    )
    encryption = (
        '<manifest:encryption-data manifest:checksum-type="SHA1/1K" manifest:checksum="x"/>'
        if encrypted
        else ""
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
        '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">'
        '<manifest:file-entry manifest:full-path="/" manifest:media-type='
        '"application/vnd.oasis.opendocument.text"/>'
        f'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml">'
        f"{encryption}</manifest:file-entry></manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text"
        )  # stored, uncompressed, first: how readers recognise the type
        archive.writestr("META-INF/manifest.xml", manifest)
        archive.writestr("content.xml", content)
        for name in pictures:
            archive.writestr(name, png())
    return out.getvalue()


def to_markdown(parts: list[Part]) -> bytes:
    lines: list[str] = []
    for part in parts:
        kind = part[0]
        if kind == "title":
            lines += [f"# {part[1]}", ""]
        elif kind == "h":
            lines += [f"{'#' * (part[1] + 1)} {part[2]}", ""]
        elif kind == "p":
            lines += [part[1], ""]
        elif kind == "list":
            lines += [*(f"- {item}" for item in part[1]), ""]
        elif kind == "table":
            header, *rows = part[1]
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(row) + " |" for row in rows]
            lines.append("")
        elif kind == "image":
            lines += [f"![{part[1]}](map.png)", ""]
    return "\n".join(lines).encode()


def to_text(parts: list[Part]) -> bytes:
    lines: list[str] = []
    for part in parts:
        kind = part[0]
        if kind in ("title", "p"):
            lines += [part[1], ""]
        elif kind == "h":
            lines += [part[2], ""]
        elif kind == "list":
            lines += [*(f"• {item}" for item in part[1]), ""]
        elif kind == "table":
            lines += [*("\t".join(row) for row in part[1]), ""]
    return "\n".join(lines).encode()


def to_pdf(
    parts: list[Part], *, running_header: str | None = None, password: str | None = None
) -> bytes:
    """A text PDF: the title at 20 pt, headings at 16 and 13, text at 11; with a running
    header and a "Стр. N" footer on every page when `running_header` is given."""
    from fpdf import FPDF

    class Pdf(FPDF):
        def header(self) -> None:
            if running_header:
                self.set_font("DejaVu", size=8)
                self.cell(0, 6, running_header, new_x="LMARGIN", new_y="NEXT", align="R")
                self.ln(4)

        def footer(self) -> None:
            if running_header:
                self.set_y(-15)
                self.set_font("DejaVu", size=8)
                self.cell(0, 10, f"Стр. {self.page_no()}", align="C")

    pdf = Pdf(format="A4")
    pdf.add_font("DejaVu", fname=str(font_path()))
    if password:
        pdf.set_encryption(owner_password=password + "-owner", user_password=password)
    pdf.add_page()
    for part in parts:
        kind = part[0]
        if kind == "page":
            pdf.add_page()
            continue
        if kind == "title":
            size, text, space = 20, part[1], 6
        elif kind == "h":
            size, text, space = (16 if part[1] == 1 else 13), part[2], 3
        elif kind == "p":
            size, text, space = 11, part[1], 3
        elif kind == "list":
            size, text, space = 11, "\n".join(f"• {item}" for item in part[1]), 3
        elif kind == "table":
            size, text, space = 11, "\n".join("    ".join(row) for row in part[1]), 3
        elif kind == "image":
            pdf.image(io.BytesIO(png()), w=40)
            pdf.ln(3)
            continue
        else:
            continue
        pdf.set_font("DejaVu", size=size)
        pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(space)
    return bytes(pdf.output())


def scanned_pdf(pages: int = 2) -> bytes:
    """What a scanner makes: each page one picture, no text."""
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    for _ in range(pages):
        pdf.add_page()
        pdf.image(io.BytesIO(png(600, 840)), x=10, y=10, w=190)
    return bytes(pdf.output())


def corrupt(format_: str) -> bytes:
    """The first kilobyte of a real file, as an interrupted download leaves it."""
    whole = {
        "docx": lambda: to_docx(KAZANLAK),
        "odt": lambda: to_odt(KAZANLAK),
        "pdf": lambda: b"%PDF-1.7\n" + b"\x00garbage" * 200,
    }[format_]()
    return whole[:1024]


def outline(sections: Any) -> list[tuple[str, str]]:
    """(number, title) of every section, depth first, as the expected trees are written."""
    found: list[tuple[str, str]] = []
    for section in sections:
        found.append((section.number, section.title))
        found.extend(outline(section.children))
    return found
