#!/usr/bin/env python3
"""A second, independent model of Odoo 17.0's taxes, in binary floats as Odoo
computes them: compute_all (with float_round's epsilon nudge), the POS's
fiscal-position price adjustment and per-tax order totals. Used to cross-check
the Rust engine, which computes the same rules in exact fractions.

    tools/odoo17_float.py check tests/tax_cases.toml
        runs the hand-worked table through the float model; prints the cases
        whose expected values the float model does not reproduce.
    tools/odoo17_float.py gen SEED N > /tmp/random.toml
        writes N random orders with the float model's results as expectations;
        then `POSSYNC_TAX_CASES=/tmp/random.toml cargo test -p possync-catalogue
        --test tax_cases` lists the orders where exact arithmetic and Odoo's
        floats disagree (see docs/ORDER_MODEL.md, "Taxes and totals").
    tools/odoo17_float.py --exact check|gen ...
        the same model in exact fractions (Python's `Fraction`), rounding
        exact halves away from zero: what possync computes.
Python 3.11+, standard library only.
"""
import math
import random
import sys
import tomllib
from fractions import Fraction

EXACT = False


def num(x):
    """A number from int or decimal text: a float as Odoo has it, or exact."""
    return Fraction(str(x)) if EXACT else float(x)


def float_round(value, precision_rounding):
    # odoo.tools.float_utils.float_round, method HALF-UP.
    if value == 0:
        return num(0)
    if EXACT:
        q = Fraction(value) / Fraction(precision_rounding)
        return math.floor(abs(q) + Fraction(1, 2)) * (1 if q >= 0 else -1) * precision_rounding
    normalized = value / precision_rounding
    sign = math.copysign(1.0, normalized)
    normalized += sign * 2 ** (math.log(abs(normalized), 2) - 52)
    return math.floor(abs(normalized) + 0.5) * sign * precision_rounding


def compute_all(taxes, price_unit, qty, rounding, globally, handle_price_include=True):
    prec = rounding * num("1e-5") if globally else rounding

    def recompute_base(base, inc):
        fixed, div, pct = inc["fixed"], sum(inc["div"]), sum(inc["pct"])
        inc.update(fixed=num(0), div=[], pct=[])
        return (base - fixed) / (num(1) + pct / num(100)) * (num(100) - div) / num(100)

    base = float_round(price_unit * qty, rounding)
    sign = 1
    if base < 0:
        sign, base = -1, -base
    checkpoints, store, is_base_affected = {}, True, True
    inc = {"fixed": num(0), "div": [], "pct": []}
    if handle_price_include:
        for i in range(len(taxes) - 1, -1, -1):
            t = taxes[i]
            if t["include_base_amount"] and is_base_affected:
                base, store = recompute_base(base, inc), True
            if t["price_include"]:
                if t["amount_type"] == "percent":
                    inc["pct"].append(t["amount"])
                elif t["amount_type"] == "division":
                    inc["div"].append(t["amount"])
                else:
                    inc["fixed"] = abs(qty) * t["amount"]  # 17.0 assigns
                if store and t["amount"]:
                    checkpoints[i], store = base, False
            is_base_affected = t["is_base_affected"]
    total_excluded = float_round(recompute_base(base, inc), rounding)
    base = total_included = total_excluded
    skip, cum, out = False, num(0), []
    for i, t in enumerate(taxes):
        tb = base if (t["price_include"] or t["is_base_affected"]) else total_excluded
        if not skip and t["price_include"] and checkpoints.get(i) is not None:
            amt, cum = checkpoints[i] - (base + cum), 0
        elif t["amount_type"] == "fixed":
            amt = (abs(qty) if tb else qty) * t["amount"]
        elif t["amount_type"] == "percent":
            amt = tb * t["amount"] / 100
        else:
            amt = tb / (1 - t["amount"] / 100) - tb if (1 - t["amount"] / 100) else num(0)
        amt = float_round(amt, prec)
        if t["price_include"] and checkpoints.get(i) is None:
            cum += amt
        out.append((t["id"], sign * amt, float_round(sign * tb, prec), t["sequence"]))
        if t["include_base_amount"]:
            base += amt
            skip = skip or not t["price_include"]
        total_included += amt
    return sign * total_excluded, sign * float_round(total_included, rounding), out


def order(case):
    """untaxed, total, {tax: (base, amount)} in minor units, as the POS totals."""
    rounding = num(case.get("rounding", 1)) / num(100)
    globally = case.get("method") == "round_globally"
    taxes = {}
    for idx, t in enumerate(case["taxes"]):
        taxes[t["id"]] = dict(
            id=t["id"], amount_type=t["amount_type"], amount=num(t["amount"]),
            price_include=t.get("price_include", False), include_base_amount=t.get("include_base_amount", False),
            is_base_affected=t.get("is_base_affected", True), sequence=t.get("sequence", 1), idx=idx)
    fmap = {}
    for m in case.get("fiscal_map", []):
        fmap.setdefault(m["src"], []).append(m.get("dest"))
    key = lambda t: (t["sequence"], t["idx"])
    untaxed, amounts, bases, seqs = num(0), {}, {}, {}
    for line in case["lines"]:
        price, qty = num(line["price"]) / num(100), num(line["qty"])
        prod = sorted((taxes[t] for t in line["taxes"]), key=key)
        mapped = [(t, [taxes[d] for d in fmap[t["id"]] if d] if t["id"] in fmap else [t]) for t in prod]
        removed = [t for t, a in mapped if t["price_include"] and t not in a]
        new_incl = []
        for t, a in mapped:
            if a and a[0]["price_include"]:
                new_incl += [x for x in a if x not in new_incl]
        if removed:  # computePriceAfterFp
            price = compute_all(removed, price, num(1), rounding, globally)[0]
            if new_incl:
                new_incl.sort(key=lambda t: t["sequence"])
                price = compute_all(new_incl, price, num(1), rounding, globally, False)[1]
        line_taxes = []
        for _, a in mapped:
            line_taxes += [x for x in a if x not in line_taxes]
        line_taxes.sort(key=key)
        disc = num(line.get("discount", "0"))
        excl, _, res = compute_all(line_taxes, price * (num(1) - disc / num(100)), qty, rounding, globally)
        untaxed += excl
        for tid, amt, base, seq in res:
            amounts[tid] = amounts.get(tid, num(0)) + amt
            bases[tid] = bases.get(tid, num(0)) + base
            seqs[tid] = seq
    cents = lambda v: round(float_round(v, rounding) * 100)
    rows = {t: (cents(bases[t]), cents(amounts[t])) for t in sorted(amounts, key=lambda t: (seqs[t], t))}
    u = round(untaxed * 100)
    return u, u + sum(a for _, a in rows.values()), rows


def check(path):
    cases = tomllib.load(open(path, "rb"))["case"]
    bad = 0
    for c in cases:
        u, tot, rows = order(c)
        exp = c["expect"]
        want = {t["id"]: (t["base"], t["amount"]) for t in exp["taxes"]}
        if (u, tot, rows) != (exp["untaxed"], exp["total"], want):
            bad += 1
            print(f"{c['name']}: the model gives untaxed {u}, total {tot}, taxes {rows}")
    print(f"{len(cases)} cases, {bad} not reproduced by the {'exact' if EXACT else 'float'} model")


TAXES = [("p21", "percent", "21"), ("p10", "percent", "10"), ("p6", "percent", "6"), ("p55", "percent", "5.5"),
         ("p77", "percent", "7.7"), ("p19", "percent", "19"), ("f05", "fixed", "0.5"), ("f03", "fixed", "0.3"),
         ("d10", "division", "10")]


def gen(seed, n):
    rnd = random.Random(seed)
    b = lambda x: "true" if x else "false"
    for k in range(n):
        taxes = [dict(id=i, amount_type=kind, amount=a, price_include=rnd.random() < 0.5,
                      include_base_amount=rnd.random() < 0.15, is_base_affected=rnd.random() < 0.9,
                      sequence=rnd.randint(1, 3)) for i, kind, a in rnd.sample(TAXES, rnd.randint(1, 3))]
        lines = [dict(price=rnd.randint(-200, 5000), qty=rnd.choice(["1", "2", "3", "0.25", "1.5", "-1", "0.333", "7"]),
                      discount=rnd.choice(["0", "10", "15", "33.33", "100"]),
                      taxes=[t["id"] for t in taxes if rnd.random() < 0.7]) for _ in range(rnd.randint(1, 6))]
        case = dict(method=rnd.choice(["round_per_line", "round_globally"]), taxes=taxes, lines=lines)
        u, tot, rows = order(case)
        model = "exact" if EXACT else "float"
        print(f'[[case]]\nname = "random-{seed}-{k}"\nnote = "generated; expectations from the {model} model"')
        print(f'method = "{case["method"]}"\ntaxes = [')
        for t in taxes:
            print(f'  {{ id = "{t["id"]}", name = "{t["id"]}", amount_type = "{t["amount_type"]}", amount = "{t["amount"]}", '
                  f'price_include = {b(t["price_include"])}, include_base_amount = {b(t["include_base_amount"])}, '
                  f'is_base_affected = {b(t["is_base_affected"])}, sequence = {t["sequence"]} }},')
        print("]\nlines = [")
        for l in lines:
            ids = ", ".join(f'"{t}"' for t in l["taxes"])
            print(f'  {{ price = {l["price"]}, qty = "{l["qty"]}", discount = "{l["discount"]}", taxes = [{ids}] }},')
        rows_text = ", ".join(f'{{ id = "{t}", base = {bs}, amount = {a} }}' for t, (bs, a) in rows.items())
        print(f"]\nexpect = {{ untaxed = {u}, total = {tot}, taxes = [{rows_text}] }}\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--exact"]:
        EXACT = True
        del sys.argv[1]
    if sys.argv[1:2] == ["check"]:
        check(sys.argv[2])
    elif sys.argv[1:2] == ["gen"]:
        gen(int(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(__doc__)
