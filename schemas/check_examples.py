#!/usr/bin/env python3
"""Validate the ONDC example payloads against the gateway's JSON Schemas.

Usage:
    python3 schemas/check_examples.py [EXAMPLES_DIR] [--negative]

* EXAMPLES_DIR defaults to /work/shared/ondc/examples.
* Each *.json example is mapped to a schema family by context.domain:
      ONDC:RETxx -> retail, ONDC:LOGxx -> logistics,
      nic2004:60232 (logistics 1.2.0) -> logistics,
      ONDC:AGRxx (retail API contract, example from the retail spec repo) -> retail.
  Fragments without context.domain (the "Fulfillment by BNP - 004" doc
  snippets) fall back to the family named in the file name (RET/LOG), so they
  are still validated and their failure is reported.
* The action comes from context.action; actions without a schema (on_confirm,
  on_init, ...) are reported as SKIP.
* Prints PASS/FAIL per file with the JSON path of the most relevant error
  (jsonschema.exceptions.best_match) and the total error count.
* EXPECTED_FAIL lists the files that are known to fail and why (mirrors the
  table in schemas/README.md). The exit status is 0 only if every file
  behaves as expected (PASS where a pass is expected, FAIL where listed).
* --negative additionally runs a few mutated payloads that must FAIL, and
  prints the error path each one produces (sanity check that wrong types are
  caught with a useful path).

Requires: pip install jsonschema referencing   (jsonschema >= 4.18)
"""

from __future__ import annotations

import copy
import glob
import json
import os
import re
import sys

try:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012
except ImportError:  # pragma: no cover
    sys.exit("missing dependency: pip install jsonschema referencing")

SCHEMA_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_EXAMPLES = "/work/shared/ondc/examples"
ACTIONS = ("cancel", "on_cancel", "update", "on_update", "on_status")

# file name -> reason. Everything not listed here must PASS.
EXPECTED_FAIL = {
    "bnpdoc-RET1.2.5-004__lsp-cancels__1_cancel_cascaded.json":
        "doc fragment: context is only {action, core_version, '..'} (no domain, ids, timestamp ...)",
    "bnpdoc-RET1.2.5-004__lsp-cancels__2_on_cancel_rto.json":
        "doc fragment: incomplete context; also the literal string '..' inside fulfillments[0].tags",
    "bnpdoc-RET1.2.5-004__lsp-cancels__3_update_rto_delivered_receivables_claim.json":
        "doc fragment: incomplete context",
    "bnpdoc-RET1.2.5-004__lsp-cancels__4_on_update_cancelled.json":
        "doc fragment: incomplete context; also the literal string '..' inside fulfillments[0].tags",
    "bnpdoc-RET1.2.5-004__status-update__update_state_picked_up.json":
        "doc fragment: incomplete context",
    "retspec-draft-1.x-RET1.2.0__on_update_part_cancel.json":
        "source YAML has unquoted `value: 002` in cancel_request.reason_id, which parses as the integer 2; "
        "tag values must be strings (a real peer sending this would be rejected, and '002' would be lost)",
}


# Doc fragments ("Fulfillment by BNP - 004"): besides the real (failing) result,
# validate their message body with a synthetic complete context and with the
# '..' placeholder strings removed from arrays. These body checks must PASS:
# they show that the 1.2.5 doc forms (order In-progress during RTO, forward
# fulfillment state "RTO", cascaded LSP reason "103", update_state RTO-Delivered,
# bnp_receivables_claim) are accepted.
SYNTHETIC_CONTEXT = {
    "domain": "ONDC:RET10", "city": "std:080", "country": "IND", "core_version": "1.2.5",
    "bap_id": "bnp.example", "bap_uri": "https://bnp.example/ondc",
    "bpp_id": "snp.example", "bpp_uri": "https://snp.example/ondc",
    "transaction_id": "T-synthetic", "message_id": "M-synthetic",
    "timestamp": "2025-01-03T11:00:30.000Z", "ttl": "PT30S",
}


def strip_placeholders(x):
    if isinstance(x, dict):
        return {k: strip_placeholders(v) for k, v in x.items() if k != ".."}
    if isinstance(x, list):
        return [strip_placeholders(v) for v in x if v != ".."]
    return x


def is_fragment(ctx):
    return "domain" not in ctx and ".." in ctx


def load_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def build_registry():
    """Register every *.schema.json under SCHEMA_DIR by its $id."""
    resources = []
    by_id = {}
    for path in sorted(glob.glob(os.path.join(SCHEMA_DIR, "**", "*.schema.json"), recursive=True)):
        schema = load_json(path)
        Draft202012Validator.check_schema(schema)
        sid = schema["$id"]
        by_id[sid] = schema
        resources.append((sid, Resource.from_contents(schema, default_specification=DRAFT202012)))
    return Registry().with_resources(resources), by_id


def family_of(domain, filename):
    if isinstance(domain, str):
        if re.match(r"^ONDC:RET", domain) or re.match(r"^ONDC:AGR", domain):
            return "retail", None
        if re.match(r"^ONDC:LOG", domain) or domain == "nic2004:60232":
            return "logistics", None
    # No (usable) domain: fall back to the family named in the file name.
    if re.search(r"RET\d|RET1\.", filename):
        return "retail", "family from file name (no context.domain)"
    if re.search(r"LOG\d|LOG1\.", filename):
        return "logistics", "family from file name (no context.domain)"
    return None, f"unknown domain {domain!r}"


def json_path(err):
    return err.json_path if hasattr(err, "json_path") else "$" + "".join(f"[{p!r}]" for p in err.absolute_path)


def validate(validators, family, action, doc):
    v = validators[(family, action)]
    errors = list(v.iter_errors(doc))
    return errors


def make_validators(registry):
    validators = {}
    for fam in ("retail", "logistics"):
        for action in ACTIONS:
            sid = f"https://ondc-gateway.local/schemas/{fam}/{action}.schema.json"
            schema = registry.contents(sid)
            validators[(fam, action)] = Draft202012Validator(schema, registry=registry)
    return validators


def describe(errors):
    best = best_match(errors)
    msg = best.message
    if len(msg) > 160:
        msg = msg[:157] + "..."
    return f"{json_path(best)}: {msg} ({len(errors)} error{'s' if len(errors) != 1 else ''})"


def run_examples(examples_dir, validators):
    ok = True
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    rows = []
    for path in sorted(glob.glob(os.path.join(examples_dir, "*.json"))):
        name = os.path.basename(path)
        try:
            doc = load_json(path)
        except json.JSONDecodeError as exc:
            rows.append(("FAIL", name, f"not JSON: {exc}", name in EXPECTED_FAIL))
            continue
        ctx = doc.get("context") if isinstance(doc, dict) else None
        ctx = ctx if isinstance(ctx, dict) else {}
        action = ctx.get("action")
        if action not in ACTIONS:
            rows.append(("SKIP", name, f"no schema for action {action!r}", None))
            continue
        family, note = family_of(ctx.get("domain"), name)
        if family is None:
            rows.append(("SKIP", name, note, None))
            continue
        errors = validate(validators, family, action, doc)
        status = "FAIL" if errors else "PASS"
        detail = f"{family}/{action}"
        if note:
            detail += f" [{note}]"
        if errors:
            detail += " -> " + describe(errors)
        expected_fail = name in EXPECTED_FAIL
        rows.append((status, name, detail, expected_fail))
        if is_fragment(ctx):
            body = strip_placeholders(doc)
            body["context"] = dict(SYNTHETIC_CONTEXT, action=action)
            berrs = validate(validators, family, action, body)
            rows.append(("PASS" if not berrs else "FAIL", name + "  [body check]",
                         f"{family}/{action} message body with a complete context, '..' placeholders removed"
                         + ("" if not berrs else " -> " + describe(berrs)), False))

    for status, name, detail, expected_fail in rows:
        counts[status] += 1
        if status == "SKIP":
            mark = ""
        elif (status == "FAIL") == bool(expected_fail):
            mark = " (expected)" if status == "FAIL" else ""
        else:
            mark = " (UNEXPECTED)"
            ok = False
        print(f"{status}{mark}  {name}\n      {detail}")
        if status == "FAIL" and expected_fail:
            print(f"      why expected: {EXPECTED_FAIL[name]}")
    rows = [r for r in rows if not r[1].endswith("[body check]")]
    counts = {k: sum(1 for r in rows if r[0] == k) for k in counts}
    missing = [n for n in EXPECTED_FAIL if not os.path.exists(os.path.join(examples_dir, n))]
    for n in missing:
        print(f"NOTE  expected-fail entry has no file: {n}")
    print(f"\n{counts['PASS']} PASS, {counts['FAIL']} FAIL, {counts['SKIP']} SKIP; "
          f"{'all as expected' if ok else 'SOME RESULTS UNEXPECTED'}")
    return ok


def run_negative(examples_dir, validators):
    """Mutations of good examples that must fail, with the path they should report."""
    ex = lambda n: load_json(os.path.join(examples_dir, n))  # noqa: E731
    cases = []

    def case(label, family, action, base, mutate, want_path):
        doc = copy.deepcopy(base)
        mutate(doc)
        cases.append((label, family, action, doc, want_path))

    oc = ex("autospec-RET10-1.2.5__buyer-cancel__07_on_cancel_solicited.json")
    ca = ex("autospec-RET10-1.2.5__force-cancel__11_cancel_force_no.json")
    up = ex("autospec-RET10-1.2.5__force-cancel__14_update_payment_refund_settlement.json")
    lo = ex("logspec-fork-LOG1.2.5__on_cancel_rto.json")
    ls = ex("logspec-fork-LOG1.2.5__on_status_rto.json")

    case("fulfillments is an object", "retail", "on_cancel", oc,
         lambda d: d["message"]["order"].__setitem__("fulfillments", {"id": "F1"}), "$.message.order.fulfillments")
    case("tag value is a number", "retail", "on_cancel", oc,
         lambda d: d["message"]["order"]["fulfillments"][0]["tags"][0]["list"][0].__setitem__("value", 52),
         "$.message.order.fulfillments[0].tags[0].list[0].value")
    case("tag list is an object", "retail", "on_cancel", oc,
         lambda d: d["message"]["order"]["fulfillments"][0]["tags"][0].__setitem__("list", {"code": "x", "value": "y"}),
         "$.message.order.fulfillments[0].tags[0].list")
    case("state.descriptor.code missing", "retail", "on_cancel", oc,
         lambda d: d["message"]["order"]["fulfillments"][0]["state"]["descriptor"].pop("code"),
         "$.message.order.fulfillments[0].state.descriptor")
    case("order.state missing", "retail", "on_cancel", oc,
         lambda d: d["message"]["order"].pop("state"), "$.message.order")
    case("action mismatch", "retail", "on_cancel", oc,
         lambda d: d["context"].__setitem__("action", "on_update"), "$.context.action")
    case("bpp_id missing", "retail", "on_cancel", oc,
         lambda d: d["context"].pop("bpp_id"), "$.context")
    case("no city/country and no location", "retail", "on_cancel", oc,
         lambda d: (d["context"].pop("city"), d["context"].pop("country")), "$.context")
    def bad_location(d):
        c = d["context"]
        c.pop("city"); c.pop("country")
        c["location"] = {"city": {"name": "Bengaluru"}, "country": {"code": "IND"}}
    case("location form without city.code", "retail", "on_cancel", oc, bad_location, "$.context.location.city")
    case("message is an array", "retail", "on_status", oc,
         lambda d: (d["context"].__setitem__("action", "on_status"), d.__setitem__("message", [d["message"]])), "$.message")
    case("core_version is a number", "retail", "cancel", ca,
         lambda d: d["context"].__setitem__("core_version", 1.25), "$.context.core_version")
    case("cancellation_reason_id is a number", "retail", "cancel", ca,
         lambda d: d["message"].__setitem__("cancellation_reason_id", 52), "$.message.cancellation_reason_id")
    case("order_id missing", "retail", "cancel", ca,
         lambda d: d["message"].pop("order_id"), "$.message")
    case("descriptor.tags is an object", "retail", "cancel", ca,
         lambda d: d["message"]["descriptor"].__setitem__("tags", {"code": "params"}), "$.message.descriptor.tags")
    case("update_target missing", "retail", "update", up,
         lambda d: d["message"].pop("update_target"), "$.message")
    case("payment update without settlement_amount", "retail", "update", up,
         lambda d: d["message"]["order"]["payment"]["@ondc/org/settlement_details"][0].pop("settlement_amount"),
         "$.message.order.payment['@ondc/org/settlement_details'][0]")
    case("quote price value is a number", "logistics", "on_cancel", lo,
         lambda d: d["message"]["order"]["quote"]["price"].__setitem__("value", 59.0), "$.message.order.quote.price.value")
    case("fulfillment without id", "logistics", "on_status", ls,
         lambda d: d["message"]["order"]["fulfillments"][1].pop("id"), "$.message.order.fulfillments[1]")
    case("item quantity count is a string", "retail", "on_cancel", oc,
         lambda d: d["message"]["order"]["items"][0]["quantity"].__setitem__("count", "1"),
         "$.message.order.items[0].quantity.count")

    # and two that must PASS (tolerance checks)
    good = []
    def ok_case(label, family, action, base, mutate):
        doc = copy.deepcopy(base)
        mutate(doc)
        good.append((label, family, action, doc))

    def to_location(d):
        c = d["context"]
        c["location"] = {"city": {"code": c.pop("city")}, "country": {"code": c.pop("country")}}
    ok_case("context in location.city.code form", "retail", "on_cancel", oc, to_location)
    ok_case("on_cancel error callback without order", "retail", "on_cancel", oc,
            lambda d: (d.__setitem__("message", {}),
                       d.__setitem__("error", {"type": "DOMAIN-ERROR", "code": "30012", "message": "Cancellation reason is invalid"})))
    ok_case("unknown extra fields everywhere", "retail", "on_cancel", oc,
            lambda d: (d.__setitem__("x_top", 1), d["context"].__setitem__("x_ctx", {}),
                       d["message"]["order"]["fulfillments"][0].__setitem__("x_f", [1])))
    ok_case("ttl absent", "logistics", "cancel", ex("logspec-fork-LOG1.2.5__cancel.json"),
            lambda d: d["context"].pop("ttl"))

    ok = True
    print("\nNegative checks (must FAIL, at the given path):")
    for label, fam, action, doc, want in cases:
        errors = validate(validators, fam, action, doc)
        if not errors:
            ok = False
            print(f"  UNEXPECTED PASS  {label}")
            continue
        paths = [json_path(e) for e in errors]
        hit = want in paths
        best = best_match(errors)
        ok &= hit
        print(f"  {'FAIL ok' if hit else 'FAIL, WRONG PATH'}  {label}: {json_path(best)}: {best.message[:100]}")
        if not hit:
            print(f"      wanted {want}; got {paths}")
    print("Tolerance checks (must PASS):")
    for label, fam, action, doc in good:
        errors = validate(validators, fam, action, doc)
        ok &= not errors
        print(f"  {'PASS ok' if not errors else 'UNEXPECTED FAIL'}  {label}" + ("" if not errors else " -> " + describe(errors)))
    return ok


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    examples_dir = args[0] if args else DEFAULT_EXAMPLES
    registry, _ = build_registry()
    validators = make_validators(registry)
    ok = run_examples(examples_dir, validators)
    if "--negative" in argv:
        ok &= run_negative(examples_dir, validators)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
