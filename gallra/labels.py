"""The names people read for the index's vocabularies (translated by gallra.i18n).

Purposes and rules come from the policy file; those of the default policy
have names here, and any other shows its id.
"""

from __future__ import annotations

from gallra.i18n import N_

__all__ = ["LABELS"]

LABELS: dict[str, dict[str, str]] = {
    "basis": {
        "contract": N_("contract"),
        "legal_obligation": N_("legal obligation"),
        "legitimate_interest": N_("legitimate interest"),
        "consent": N_("consent"),
    },
    "purpose": {
        "agreement": N_("agreement"),
        "accounting": N_("accounting"),
        "marketing": N_("marketing"),
        "consented": N_("by consent"),
        "rights_request": N_("data-subject request"),
        "quarantine": N_("a file refused at intake"),
    },
    "rule": {
        "contract": N_("agreement: 5 years after the year it ended"),
        "prospect": N_("enquiry: 3 months"),
        "unassigned": N_("not assigned: 3 months"),
        "accounting": N_("bookkeeping: 7 years"),
        "marketing": N_("marketing: until an objection"),
        "consent": N_("consent: until withdrawn"),
        "rights-request": N_("request bundle: 30 days"),
        "quarantine": N_("quarantine: 30 days"),
    },
    "role": {
        "client": N_("client"),
        "prospect": N_("prospect"),
        "payer": N_("payer"),
        "guardian": N_("guardian"),
        "trustee": N_("trustee"),
        "attorney": N_("attorney"),
        "company_contact": N_("company contact"),
        "from": N_("sender"),
        "to": N_("recipient"),
        "cc": N_("copy"),
        "reply-to": N_("reply to"),
        "recorded": N_("recorded"),
        "assigned": N_("assigned"),
    },
    "kind": {
        "email": N_("e-mail"),
        "attachment": N_("attachment"),
        "recording": N_("recording"),
        "export": N_("export"),
        "document": N_("document"),
    },
    "right": {
        "access": N_("access"),
        "erasure": N_("erasure"),
        "rectification": N_("rectification"),
        "restriction": N_("restriction"),
        "objection": N_("objection"),
        "portability": N_("portability"),
        "consent-withdrawal": N_("consent withdrawal"),
    },
    "hold": {
        "legal_hold": N_("legal hold"),
        "restriction": N_("restriction"),
        "request": N_("open request"),
    },
    "identifier": {
        "email": N_("e-mail"),
        "phone": N_("phone"),
        "personnummer": N_("personal identity number"),
        "online": N_("online identifier"),
    },
    "status": {
        "open": N_("open"),
        "done": N_("done"),
        "refused": N_("refused"),
        "ok": N_("ok"),
        "failed": N_("failed"),
        "running": N_("running"),
        "skipped": N_("skipped"),
    },
}
