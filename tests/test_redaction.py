"""The log redaction covers every logger, args and exception texts."""

from __future__ import annotations

import logging

import pytest

from flows.redaction import Redactor, install


def test_redactor_masks_addresses_personnummer_and_known_names() -> None:
    redactor = Redactor()
    redactor.set_names(["Åsa Öberg", "Bo"])
    text = "mail från Åsa Öberg <asa.oberg@example.se>, pnr 811218-9876 / 198112189876, bo kvar"
    assert redactor.text(text) == (
        "mail från [name] <[address]>, pnr [personnummer] / [personnummer], [name] kvar"
    )
    assert redactor.text("item 12345 took 3 ms") == "item 12345 took 3 ms"


def test_installed_factory_redacts_records_of_every_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install(["Greta Holm"])
    with caplog.at_level(logging.INFO):
        logging.getLogger("some.library").info("user %s <%s>", "Greta Holm", "greta@example.se")
        try:
            raise ValueError("bad address greta@example.se")
        except ValueError as exc:
            logging.getLogger("gallra.flows").error("failed", exc_info=exc)
    text = caplog.text
    assert "Greta" not in text and "greta@" not in text
    assert "user [name] <[address]>" in text
    assert "[ValueError: bad address [address]]" in text
    install([])
