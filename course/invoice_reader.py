"""A rule-based invoice reader: labelled fields found with regular expressions.

It is what the *simulated* backend uses to read a document before it plays
the part of a model (see ``course.llm``), and it is a fair baseline for real
models: on clean, labelled invoices a few regular expressions do very well, and
they cost nothing. Where they fail (unlabelled, unusual or garbled documents)
is where a language model earns its price.
"""

from __future__ import annotations

import datetime as dt
import re

from course.extraction import InvoiceFields, parse_amount, parse_date

_NUMBER = re.compile(
    r"\b(?:invoice|receipt|order)\s*(?:#|no\.?|number)\s*:?\s*([A-Za-z0-9][A-Za-z0-9/-]*[A-Za-z0-9])", re.IGNORECASE
)
_VENDOR_PATTERNS = [
    re.compile(r"\bfrom\s+([A-Z][^\n]*?)(?:\s+-\s+|\.?\s+(?:Total|Amount|Date)\b)"),
    re.compile(r"#\S+\s+-\s+([A-Z][^\n]*?)\s+-\s+"),
    re.compile(r"^\s*(?:vendor|supplier|seller|bill from|from)\s*:\s*(.+?)\s*$", re.IGNORECASE | re.MULTILINE),
]
_COMPANY_LINE = re.compile(
    r"^\s*([A-Z][\w&'., -]*?\b(?:Inc|Ltd|Co|Corp|Corporation|GmbH|LLC|plc|AG|SA|Limited|Company)\.?)\s*$", re.MULTILINE
)
_DATE = r"(\d{4}-\d{2}-\d{2}|\d{1,2} [A-Z][a-z]{2,8}\.? \d{4}|[A-Z][a-z]{2,8}\.? \d{1,2}, \d{4})"
_LABELLED_DATE = re.compile(r"(?<![Dd]ue )\b(?:invoice date|order date|date|paid|issued)\s*:?\s*" + _DATE, re.IGNORECASE)
_ANY_DATE = re.compile(_DATE)
_TOTAL_LABELS = ["final total", "amount due", "total due", "grand total", "order total", "total", "amount"]
# After a total's label: an optional "(...)", a colon, an optional currency, the amount.
_AFTER_LABEL = re.compile(r"\s*(?:\([^)]*\))?\s*:\s*(?:USD|EUR|GBP|[$€£])?\s*(-?\d[\d,]*(?:\.\d+)?)")
_NOT_THE_TOTAL = ("line ", "sub-", "sub ")  # "Line total:", "Sub-total:" are not the amount due


def _total(text: str) -> float | None:
    """The amount after the most specific label ("final total" before "total"), or None."""
    lower = text.lower()
    for label in _TOTAL_LABELS:
        start = lower.find(label)
        while start >= 0:
            at_word_start = start == 0 or not lower[start - 1].isalnum()
            if at_word_start and not lower[max(0, start - 5) : start].endswith(_NOT_THE_TOTAL):
                if match := _AFTER_LABEL.match(text, start + len(label)):
                    return parse_amount(match.group(1))
            start = lower.find(label, start + 1)
    return None


def _first_date(text: str) -> dt.date | None:
    for pattern in (_LABELLED_DATE, _ANY_DATE):
        for match in pattern.finditer(text):
            try:
                return parse_date(match.group(1))
            except ValueError:
                continue
    return None


def _vendor(text: str) -> str | None:
    for pattern in _VENDOR_PATTERNS:
        if pattern is _VENDOR_PATTERNS[0] and "from" not in text:
            continue  # a quick "no" before the slow "from ... - Total" search
        if match := pattern.search(text):
            return match.group(1)
    head = "\n".join(text.splitlines()[:6])
    if match := _COMPANY_LINE.search(head):
        return match.group(1)
    return None


def read_invoice(text: str) -> InvoiceFields:
    """Read the four fields from an invoice's text; a field not found is ``None``."""
    number = _NUMBER.search(text)
    # Every value is already parsed and typed here, so the model is built without re-validating it.
    return InvoiceFields.model_construct(
        invoice_number=number.group(1) if number else None,
        vendor=_vendor(text),
        date=_first_date(text),
        total=_total(text),
    )
