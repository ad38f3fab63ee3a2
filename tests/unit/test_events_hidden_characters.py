"""Control and invisible characters are refused in identifiers and names (rule ``text.control_chars``, #13).

NUL, ESC, the other C0 and C1 controls, DEL, bidi overrides (RLO U+202E reverses what a terminal or a page
shows), zero-width characters and line breaks: in an id or a name they hide or disguise what a reader sees.
Free text (a document's subject, a status description) may hold tabs and line breaks, nothing else of these.
The same row of the rule table refuses them in the models (the ingress, the SDK) and in the views' compiled
check.
"""

from __future__ import annotations

from typing import Any

import pytest

from bus.cloudevents import from_structured, to_structured
from bus.errors import ValidationError
from bus.events import DocumentSent, DocumentStatusChanged, DossierSynced, Event, ReportFiled, validate
from bus.events.contract import check_for
from bus.events.record import plain_value, record_of
from tests.strategies import (
    sample_document_sent,
    sample_dossier_synced,
    sample_report_filed,
    sample_status_changed,
)

pytestmark = pytest.mark.unit

HIDDEN = {
    "NUL": "\x00",
    "ESC": "\x1b",
    "BEL": "\x07",
    "DEL": "\x7f",
    "C1 NEL": "\x85",
    "RLO": "\u202e",
    "LRI": "\u2066",
    "zero-width space": "\u200b",
    "zero-width joiner": "\u200d",
    "BOM": "\ufeff",
    "line feed": "\n",
    "carriage return": "\r",
    "tab": "\t",
    "line separator": "\u2028",
}

# (model, sample builder, dotted path of an identifier or a name)
PLACES: list[tuple[type[Event], Any, str]] = [
    (DossierSynced, sample_dossier_synced, "dossier_code"),
    (DossierSynced, sample_dossier_synced, "sector_name"),
    (DossierSynced, sample_dossier_synced, "processing_agency.name"),
    (DocumentSent, sample_document_sent, "signer_name"),
    (DocumentSent, sample_document_sent, "code_notation"),
    (DocumentSent, sample_document_sent, "recipients.0.name"),
    (ReportFiled, sample_report_filed, "report_code"),
    (ReportFiled, sample_report_filed, "indicators.0.unit"),
    (DocumentStatusChanged, sample_status_changed, "reporting_agency.name"),
]


def _with(data: Any, path: str, value: Any) -> Any:
    head, _, rest = path.partition(".")
    key: Any = int(head) if head.isdigit() else head
    copy: Any = list(data) if isinstance(data, list | tuple) else dict(data)
    copy[key] = _with(copy[key], rest, value) if rest else value
    return copy


def _dotted(path: str) -> str:
    """``recipients.0.name`` as the errors write it: ``recipients[0].name``."""
    parts: list[str] = []
    for part in path.split("."):
        if part.isdigit():
            parts[-1] += f"[{part}]"
        else:
            parts.append(part)
    return ".".join(parts)


def _value_at(data: Any, path: str) -> str:
    for part in path.split("."):
        data = data[int(part)] if part.isdigit() else data[part]
    return str(data)


@pytest.mark.parametrize("char", HIDDEN.values(), ids=HIDDEN.keys())
@pytest.mark.parametrize(("model", "sample", "path"), PLACES, ids=[f"{m.__name__}.{p}" for m, _, p in PLACES])
def test_a_hidden_character_in_an_id_or_name_is_refused_naming_the_field(
    model: type[Event], sample: Any, path: str, char: str
) -> None:
    data = sample()
    value = _value_at(data, path)
    broken = _with(data, path, value[:2] + char + value[2:])
    with pytest.raises(ValidationError) as caught:
        validate(model, broken)
    assert (caught.value.field, caught.value.rule) == (_dotted(path), "text.control_chars")
    assert f"U+{ord(char):04X}" in str(caught.value)
    # the views' compiled check refuses the record too (the model then names the rule, as above)
    check = check_for(model.AVRO_NAME)
    assert check is not None
    good = record_of(validate(model, data)).avro
    assert check(good)
    assert not check(_with(good, path, plain_value(value[:2] + char + value[2:])))


@pytest.mark.parametrize("char", ["\n", "\t", "\r"])
def test_free_text_keeps_its_line_breaks(char: str) -> None:
    event = validate(DocumentSent, sample_document_sent(subject=f"Về việc{char}triển khai"))
    assert char in event.subject
    check = check_for(DocumentSent.AVRO_NAME)
    assert check is not None
    assert check(record_of(event).avro)


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\u202e", "\u200b"])
def test_free_text_refuses_the_other_hidden_characters(char: str) -> None:
    with pytest.raises(ValidationError) as caught:
        validate(DocumentSent, sample_document_sent(subject=f"Về việc{char}triển khai"))
    assert (caught.value.field, caught.value.rule) == ("subject", "text.control_chars")


def test_visible_spaces_and_vietnamese_pass() -> None:
    name = "Sở Tư pháp\u00a0tỉnh Nghệ An"  # a no-break space, as pasted from a word processor
    event = validate(DossierSynced, sample_dossier_synced(sector_name=name))
    assert event.sector_name == name


def test_the_ingress_form_names_the_field_under_data() -> None:
    event = validate(DossierSynced, sample_dossier_synced())
    envelope = to_structured(event)
    envelope["data"]["dossier_code"] = "000.00.04.H29-250701\u202e1000"
    with pytest.raises(ValidationError) as caught:
        from_structured(envelope)
    assert (caught.value.field, caught.value.rule) == ("data.dossier_code", "text.control_chars")
