"""bot.importer: documents made in tests/documents.py, from the seeds' texts, import to
the expected trees in every format; bad documents are refused with a reason."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.importer import (
    ImportedDocument,
    ImportRefused,
    as_one_section,
    consultation_mapping,
    import_document,
)
from tests import documents
from tests.documents import (
    GERMAN,
    KAZANLAK,
    KAZANLAK_TREE,
    STARA_ZAGORA,
    STARA_ZAGORA_TREE,
    UNSTRUCTURED,
    outline,
)

RUNNING_HEADER = "ПИРО Казанлък 2021–2027"


def pdf(parts: list) -> bytes:
    return documents.to_pdf(parts, running_header=RUNNING_HEADER)


WRITERS: dict[str, Callable[[list], bytes]] = {
    "docx": documents.to_docx,
    "odt": documents.to_odt,
    "md": documents.to_markdown,
    "pdf": pdf,
}


def imported(format_: str, parts: list) -> ImportedDocument:
    return import_document(WRITERS[format_](parts), f"plan.{format_}")


@pytest.mark.parametrize("format_", [*WRITERS, "txt"])
def test_kazanlak_plan_imports_to_its_goals_and_priorities(format_: str) -> None:
    data = documents.to_text(KAZANLAK) if format_ == "txt" else WRITERS[format_](KAZANLAK)
    document = import_document(data, f"piro-kazanlak.{format_}")

    assert outline(document.sections) == KAZANLAK_TREE
    assert document.format == format_
    assert document.language == "bg"
    assert document.structured
    assert document.title == "План за интегрирано развитие на Община Казанлък 2021–2027"
    assert document.summary is not None
    assert document.summary.startswith("Планът за интегрирано развитие на Община Казанлък")
    goal_1 = document.sections[0]
    assert goal_1.body.startswith("Постигане на високи темпове")
    priority_3_1 = document.sections[2].children[0]
    assert priority_3_1.body.endswith("в срок до 10.11.2021 година.")


@pytest.mark.parametrize("format_", list(WRITERS))
def test_stara_zagora_vision_imports_to_three_goals_and_four_priorities(format_: str) -> None:
    document = imported(format_, STARA_ZAGORA)

    found = outline(document.sections)
    long_goal = found.pop(4)
    expected = list(STARA_ZAGORA_TREE)
    number, full_title = expected.pop(4)
    assert found == expected
    # Longer than a section title may be: shortened at a word, the whole of it in the body.
    assert long_goal[0] == number
    assert len(long_goal[1]) <= 120
    assert long_goal[1].endswith("…")
    assert document.sections[1].children[2].body.startswith(full_title)
    assert [(note.kind, note.where) for note in document.notes if note.kind != "running_text"] == [
        ("title_shortened", "2.3")
    ]
    assert document.title == "Визия и цели за развитие на община Стара Загора"
    assert document.sections[0].body.startswith("СТАРА ЗАГОРА – модерна")


def test_localised_heading_style_names_are_headings() -> None:
    for style in ("Заглавие {level}", "Naslov {level}"):
        data = documents.to_docx(KAZANLAK, heading_style=style)
        assert outline(import_document(data, "plan.docx").sections) == KAZANLAK_TREE


@pytest.mark.parametrize("format_", ["docx", "odt", "md"])
def test_tables_kept_as_text_lists_kept_images_left_out_with_a_note(format_: str) -> None:
    document = imported(format_, KAZANLAK)

    body = document.sections[0].children[0].body
    assert "• машиностроене;\n• електротехника;\n• програмиране;\n• туризъм." in body
    assert "Област | Партньор\nНаучни изследвания | Технически колеж" in body
    notes = {(note.kind, note.where) for note in document.notes}
    assert notes == {("table", "1.1"), ("image", "2")}
    image = next(note for note in document.notes if note.kind == "image")
    assert image.detail == "Карта на общината"
    assert "Карта" not in document.sections[1].body


def test_a_footnote_is_kept_after_its_paragraph() -> None:
    data = documents.with_footnote(
        documents.to_docx(KAZANLAK),
        after="интерес към общината.",
        footnote="Съгласно Закона за регионалното развитие.",
    )
    document = import_document(data, "plan.docx")

    body = document.sections[2].children[0].body
    assert "интерес към общината.\n\n[1] Съгласно Закона за регионалното развитие." in body
    assert ("footnote", "3.1", "1") in {(n.kind, n.where, n.detail) for n in document.notes}


def test_pdf_running_header_and_page_numbers_are_removed() -> None:
    document = imported("pdf", KAZANLAK)

    assert RUNNING_HEADER not in document.full_text
    assert "Стр." not in document.full_text
    removed = sorted(
        (note.where, note.detail) for note in document.notes if note.kind == "running_text"
    )
    assert removed == sorted([("document", RUNNING_HEADER), ("document", "page numbers")])
    assert [(note.kind, note.where, note.detail) for note in document.notes][:1] == [
        ("image", "2", "page 2")
    ]


def test_pdf_headings_found_by_font_size_without_numbers() -> None:
    document = imported("pdf", GERMAN)

    assert outline(document.sections) == [("1", "Ziel 1: Wirtschaft"), ("2", "Ziel 2: Umwelt")]


@pytest.mark.parametrize("format_", list(WRITERS))
def test_a_document_without_structure_can_become_one_section(format_: str) -> None:
    # One page: a header line on it cannot be told from a title, so none here.
    writer = documents.to_pdf if format_ == "pdf" else WRITERS[format_]
    document = import_document(writer(UNSTRUCTURED), f"plan.{format_}")

    assert not document.structured
    assert document.sections == ()
    assert "Общинския план за развитие 2014–2020 г." in document.full_text
    whole = as_one_section(document)
    assert whole.structured
    assert [section.number for section in whole.sections] == ["1"]
    (section,) = whole.sections
    assert len(section.title) <= 120
    assert section.title.startswith("Планът за интегрирано развитие на община Казанлък")
    for part in UNSTRUCTURED:
        assert part[1] in section.body


def test_one_section_splits_a_text_longer_than_a_section_holds() -> None:
    paragraph = "Текст на плана за развитие на общината. " * 100
    data = "\n\n".join([paragraph] * 12).encode()
    whole = as_one_section(import_document(data, "long.txt"))

    assert [section.number for section in whole.sections] == ["1", "2", "3"]
    assert all(len(section.body) <= 20_000 for section in whole.sections)
    assert whole.sections[0].title.endswith("(1/3)")
    assert sum(section.body.count("Текст на плана") for section in whole.sections) == 1200


@pytest.mark.parametrize("format_", ["docx", "md", "pdf"])
def test_a_language_the_bot_does_not_speak_is_none(format_: str) -> None:
    document = imported(format_, GERMAN)

    assert document.language is None
    assert outline(document.sections) == [("1", "Ziel 1: Wirtschaft"), ("2", "Ziel 2: Umwelt")]
    assert import_document(documents.to_markdown(GERMAN), "x.md", language="en").language == "en"


def test_slovenian_and_english_are_recognised_with_their_numbering() -> None:
    slovenian = (
        "# Načrt razvoja občine\n\nObčina vabi vse, ki jih zanima razvoj, da pošljejo predloge.\n\n"
        "Cilj 1: Zelena občina\n\nV občini bomo zasadili drevesa in uredili kolesarske poti.\n\n"
        "Ukrep 1.1: Drevesa ob cestah\n\nZasaditev dreves je tudi del načrta za leto 2027.\n\n"
        "Cilj 2: Povezana občina\n\nPovezave so za ljudi in podjetja pomembne.\n"
    )
    document = import_document(slovenian.encode(), "nacrt.md")
    assert document.language == "sl"
    assert outline(document.sections) == [
        ("1", "Cilj 1: Zelena občina"),
        ("1.1", "Ukrep 1.1: Drevesa ob cestah"),
        ("2", "Cilj 2: Povezana občina"),
    ]
    english = (
        "Development plan\n\n1. Economy\n\nThe plan is for the people of the town and it will "
        "be open to comments.\n\n1.1. Jobs\n\nNew jobs in the industrial zone.\n\n2. Environment"
        "\n\nClean air and water for all of us.\n"
    )
    document = import_document(english.encode(), "plan.txt")
    assert document.language == "en"
    assert document.title == "Development plan"
    assert outline(document.sections) == [("1", "Economy"), ("1.1", "Jobs"), ("2", "Environment")]


@pytest.mark.parametrize(
    ("data", "filename", "reason"),
    [
        (documents.scanned_pdf(), "scan.pdf", "no_text_layer"),
        (documents.to_pdf(KAZANLAK, password="secret"), "plan.pdf", "encrypted"),
        (documents.to_odt(KAZANLAK, encrypted=True), "plan.odt", "encrypted"),
        (documents.corrupt("docx"), "plan.docx", "corrupt"),
        (documents.corrupt("odt"), "plan.odt", "corrupt"),
        (documents.corrupt("pdf"), "plan.pdf", "corrupt"),
        (b"", "plan.md", "empty"),
        (b"\n  \n", "plan.txt", "empty"),
        (documents.to_docx([]), "plan.docx", "empty"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "plan.doc", "unsupported"),
        (b"PK\x03\x04", "plan.xlsx", "unsupported"),
    ],
    ids=[
        "scanned",
        "encrypted-pdf",
        "encrypted-odt",
        "corrupt-docx",
        "corrupt-odt",
        "corrupt-pdf",
        "empty-file",
        "blank-text",
        "empty-docx",
        "word-97",
        "unknown-type",
    ],
)
def test_unreadable_documents_are_refused_with_a_reason(
    data: bytes, filename: str, reason: str
) -> None:
    with pytest.raises(ImportRefused) as refused:
        import_document(data, filename)
    assert refused.value.reason == reason
    assert refused.value.detail


def test_consultation_mapping_leaves_unknown_fields_null_with_a_note() -> None:
    document = imported("docx", KAZANLAK)
    mapping, notes = consultation_mapping(
        document, slug="kazanlak-piro", language="bg", timezone="Europe/Sofia"
    )

    assert mapping["slug"] == "kazanlak-piro"
    assert mapping["original_language"] == "bg"
    assert mapping["title"] == {"bg": document.title}
    assert mapping["summary"] == {"bg": document.summary}
    for key in ("organizer", "contact", "opens_at", "closes_at"):
        assert mapping[key] is None
        assert notes[key].startswith("FILL IN")
    assert set(notes) == {"organizer", "contact", "opens_at", "closes_at"}
    first = mapping["sections"][0]
    assert first["number"] == "1"
    assert first["title"] == {"bg": KAZANLAK_TREE[0][1]}
    assert [child["number"] for child in first["sections"]] == ["1.1", "1.2", "1.3"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(
        st.binary(max_size=400),
        st.sampled_from(
            [documents.to_docx(KAZANLAK), documents.to_odt(KAZANLAK), pdf(KAZANLAK)]
        ).flatmap(
            lambda whole: st.tuples(st.integers(0, len(whole)), st.binary(max_size=64)).map(
                lambda cut: whole[: cut[0]] + cut[1]
            )
        ),
    ),
    suffix=st.sampled_from(["docx", "odt", "pdf", "md", "txt"]),
)
@example(data=b"\x98", suffix="md")  # not UTF-8, and undefined in Windows-1251
def test_any_bytes_import_or_are_refused_never_a_crash(data: bytes, suffix: str) -> None:
    try:
        document = import_document(data, f"upload.{suffix}")
    except ImportRefused as refused:
        assert refused.reason in {"no_text_layer", "encrypted", "corrupt", "unsupported", "empty"}
    else:
        assert document.full_text.strip()


def test_headings_deeper_than_four_levels_stay_as_text_with_a_note() -> None:
    markdown = (
        "# Plan\n\n## A\n\nThe plan for the town and the people who live in it.\n\n### A1\n\n"
        "#### A11\n\n##### A111\n\nthe fourth level\n\n###### A1111\n\ndeep text\n\n"
        "###### A1112\n\nmore\n\n## B\n\nthe text of B\n"
    )
    document = import_document(markdown.encode(), "plan.md")

    assert outline(document.sections) == [
        ("1", "A"),
        ("1.1", "A1"),
        ("1.1.1", "A11"),
        ("1.1.1.1", "A111"),
        ("2", "B"),
    ]
    deepest = document.sections[0].children[0].children[0].children[0]
    assert deepest.body == "the fourth level\n\nA1111\n\ndeep text\n\nA1112\n\nmore"
    assert [(note.kind, note.where, note.detail) for note in document.notes] == [
        ("flattened", "1.1.1.1", "A1111"),
        ("flattened", "1.1.1.1", "A1112"),
    ]


def test_numbers_that_do_not_form_a_tree_are_renumbered_and_kept_in_the_title() -> None:
    text = (
        "Development plan\n\nThe plan for the town and the people who live in it.\n\n"
        "3. Economy\n\nNew jobs in the industrial zone.\n\n3.1. Jobs\n\nFor the young.\n\n"
        "7. Environment\n\nClean air and water for all of us.\n"
    )
    document = import_document(text.encode(), "plan.txt")

    assert outline(document.sections) == [("3", "Economy"), ("3.1", "Jobs"), ("7", "Environment")]
    gap = text.replace("3.1. Jobs", "4.1. Jobs")  # 4.1 is not inside 3
    assert outline(import_document(gap.encode(), "plan.txt").sections) == [
        ("1", "3. Economy"),
        ("1.1", "4.1. Jobs"),
        ("2", "7. Environment"),
    ]
