"""A seeded PortSIP v22 tenant for the fake PBX: `seed(state, count)` puts
users and their phones straight into a fakepbx.State, as the PBX would hold
them after each user's create body (POST /users) and phone bodies (POST
/users/{id}/phones): every field there, PortSIP's default where the body set
none (`held`), as a real PBX answers GET /users/{id}.

Deterministic for a given seed, and varied the way a real tenant is: global
and custom office hours (closed days, whole days, several ranges), every
forward rule of the create schema with each action it allows (to other
users' extensions, to outside numbers, to mailboxes), BLFs on other users,
phones of several vendors, the API-only fields, and odd but valid values
(non-ASCII, apostrophes, maximal lengths, leading zeros). Values stay inside
what the roster can also say (display names of at most 128 characters, the
v22 CSV's limit; no `external_ringtone`, which the roster has no key for),
so a tenant read back into a roster can be planned against itself.

Facts: schemas/portsip-v22-api.json (the create schemas) and
/work/shared/reference/PORTSIP-CSV.md (phone filenames `yealinkT3x.ph.xml`
and `fanvil.ph.xml`, vendors, models, timezones, codecs). The other vendors'
filenames follow the same `<vendor><series>.ph.xml` style; they are made up.
"""

from __future__ import annotations

import itertools
import json
import random
import unicodedata
from pathlib import Path

API = json.loads((Path(__file__).resolve().parent.parent / "schemas" / "portsip-v22-api.json").read_text("utf-8"))
USERS = API["paths"]["/users"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
FORWARD_RULES = {name: tuple(spec["properties"]["action"]["enum"])
                 for name, spec in USERS.items() if name.endswith("_forward_rule")}
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

FIRST = ("Maria", "Tom", "Anna", "Omar", "Lena", "Sam", "José", "Zoë", "Siobhán", "Łukasz", "Ærin", "Nguyễn",
         "Jean-Luc", "D'Arcy", "Ana María", "Björn", "Chloé", "Dmitri", "Fatima", "Grace", "Hiroshi", "Ingrid",
         "Kwame", "Liam", "Mei", "Noor", "Olu", "Priya", "Quinn", "Rafael", "Søren", "Tariq", "Uma", "Vera")
LAST = ("Lopez", "Baker", "Kim", "Haddad", "Fischer", "Patel", "O'Neill", "Müller", "Żółć", "D'Souza",
        "García-Márquez", "van der Berg", "Smith", "Jones", "Nakamura", "Okafor", "Ivanova", "Chen", "Dubois",
        "Rossi", "Andersson", "Nowak", "Brown", "Wilson", "MacDonald", "Al-Rashid", "Costa", "Leclerc")
CJK = ("李雷", "王芳", "山田太郎", "김민준")
DEPARTMENTS = ("Sales", "Support", "Finance", "R&D", "Front desk", "Logística", "Kundendienst", "Verkauf/Export",
               "Hygiene room 2", "")
STREETS = ("1 Main St, Springfield", "Königstraße 12, 70173 Stuttgart", "221B Baker Street, London NW1 6XE",
           "Rue de l'Église 4, 1000 Bruxelles", "北京市朝阳区建国路 88 号", "")
ROLES = ("StandardUser",) * 8 + ("StandardInternationalUser", "StandardInternationalUser", "QueueManager", "Admin",
                                 "Reception Desk")
PROMPTS = ("en-US", "en-GB", "de-DE", "fr-FR", "es-ES", "zh-CN", "it-IT", "nl-NL")
TIMEZONES = ("GMT-5:00 US Eastern Time, New York", "GMT+8 China(Beijing)", "GMT+1:00 Central European Time",
             "GMT+0:00 London", "GMT-8:00 US Pacific Time, Los Angeles", "GMT+5:30 India(Kolkata)")
PHONE = API["paths"]["/users/{id}/phones"]["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"]
LANGUAGES = ("ENGLISH",) * 6 + tuple(PHONE["language"]["enum"])
CODECS = (["PCMU", "PCMA", "G729", "G722"], ["G722", "PCMA", "PCMU"], ["OPUS", "G722", "PCMU", "PCMA"], ["PCMA"])
# vendor -> [(model, filename)], and the vendor's MAC prefix (its OUI).
PHONES = {
    "Yealink": ("80:5e:c0", [("SIP-T32G", "yealinkT3x.ph.xml"), ("SIP-T33G", "yealinkT3x.ph.xml"),
                             ("SIP-T46U", "yealinkT4x.ph.xml"), ("SIP-T48U", "yealinkT4x.ph.xml"),
                             ("SIP-T54W", "yealinkT5x.ph.xml"), ("W73P", "yealinkW7x.ph.xml")]),
    "Fanvil": ("0c:38:3e", [("V62 Pro", "fanvil.ph.xml"), ("X4U", "fanvil.ph.xml"), ("X210", "fanvil.ph.xml"),
                            ("i20S", "fanvilDoor.ph.xml")]),
    "Grandstream": ("c0:74:ad", [("GRP2612", "grandstreamGRP.ph.xml"), ("GXP2170", "grandstreamGXP.ph.xml"),
                                 ("GXV3350", "grandstreamGXV.ph.xml")]),
    "Snom": ("00:04:13", [("D735", "snomD7xx.ph.xml"), ("D785", "snomD7xx.ph.xml"), ("D120", "snomD1xx.ph.xml")]),
    "Poly": ("64:16:7f", [("VVX 450", "polyVVX.ph.xml"), ("Edge E350", "polyEdge.ph.xml")]),
    "Htek": ("00:1f:c1", [("UC926", "htek.ph.xml")]),
}
BLFS = (0, 0, 1, 3, 6)  # how many BLF keys a user has
DOOR_MODELS = frozenset({"i20S", "GXV3350"})
OUTSIDE = (("+14155550", 3), ("+4420794", 5), ("004930", 6), ("0", 9), ("+8613", 9))  # prefix, digits after it
UPPER, LOWER, DIGITS, SPECIAL = "ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnopqrstuvwxyz", "23456789", "~!@#$%^&*()_+="
SPELLED = str.maketrans({"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "ß": "ss", "Æ": "AE", "æ": "ae"})
PIN_NEXT = tuple(tuple(d for d in range(10) if abs(d - last) > 1) for last in range(10))
CLASS_ORDERS = tuple(itertools.permutations((UPPER, LOWER, DIGITS, SPECIAL)))
REQUIRED_PHONE = ("mac", "filename", "vendor", "model", "password", "language", "transfer", "timezone", "codecs",
                  "interface", "preferred_transport")


def _rule_default(name: str) -> dict:
    rule = {"action": "FORWARD_TO_VOICEMAIL", "number": ""}
    timeout = USERS[name]["properties"].get("timeout", {})
    return {**rule, "timeout": timeout["default"]} if "default" in timeout else rule


# What a PortSIP holds for a field its create body did not set, and answers on
# GET /users/{id} (a real PBX answers every field): the API document's
# `default` where it gives one (enabled, sms, delivery_outbound_cid, the
# no-answer rules' timeout 60, ...), else the value of a new user in the
# bulk-import guide's export (global office hours, en-US, DISABLE, WEB_DOMAIN,
# UDP, every rule to voicemail), and empty for the API-only text fields.
UNSET = {
    **{name: spec["default"] for name, spec in USERS.items() if "default" in spec},
    "office_hours": {"mode": "GLOBAL", **{day: {"enabled": True, "ranges": []} for day in DAYS}},
    "voicemail_prompt": "en-US", "voicemail_play_datetime": "DISABLE", "interface": "WEB_DOMAIN",
    "preferred_transport": "UDP", "custom_options": "", "custom_forward_rules": [], "blfs": [],
    "outbound_caller_ids": [], "enable_dnd": False, "enable_acb": False,
    **dict.fromkeys(("mobile_phone", "work_phone", "home_phone", "address", "department"), ""),
    **{name: _rule_default(name) for name in FORWARD_RULES},
}
PHONE_UNSET = {"ringtone": "", "queue_ringtone": "", "external_ringtone": "", "date_format": "", "time_format": "",
               "powerled": "", "backlight": "", "screensaver": "", "rps": False, "https": False,
               "enable_lldp": False, "enable_vlan_wan_port": False, "wan_port_id": 1, "wan_port_priority": 0,
               "enable_vlan_pc_port": False, "pc_port_id": 1, "pc_port_priority": 0, "serial_number": ""}
CLOSED_WEEK = {day: {"enabled": False, "ranges": []} for day in DAYS}  # a custom rule's hours, none set


def held(body: dict, phones: list[dict]) -> tuple[dict, list[dict]]:
    """What the PBX holds (and answers) after these create bodies: every
    field, its default where the body set none; an ALL_HOURS custom rule
    with its seven days, none open."""
    user = {**UNSET, **body}
    user["custom_forward_rules"] = [{**rule, "hours": rule.get("hours") or CLOSED_WEEK}
                                    for rule in user["custom_forward_rules"]]
    return user, [{**PHONE_UNSET, **phone} for phone in phones]


def seed(state, count: int, seed: int = 0, bare: bool = False) -> None:
    """Put `count` users, with their phones, into fakepbx.State `state`, as
    the PBX holds them after their creates (`held`). Bare: only the fields a
    create body needs, and one phone of required keys on every other user
    (for speed benchmarks)."""
    for created in tenant(count, seed, bare):
        body, phones = held(*created)
        user_id = next(state.ids)
        state.users[user_id] = {"id": user_id, **body}
        state.phones[user_id] = {}
        for phone in phones:
            phone_id = next(state.ids)
            state.phones[user_id][phone_id] = {"id": phone_id, **phone}


def tenant(count: int, seed: int = 0, bare: bool = False) -> list[tuple[dict, list[dict]]]:
    """(user create body, [phone create bodies]) per user, in creation order."""
    rng = random.Random(seed)
    people = _people(rng, count)
    extensions = [p["extension_number"] for p in people]
    macs = iter(range(count * 4))
    out = []
    for i, person in enumerate(people):
        body = {**person, **_secrets(rng, person)}
        if bare:
            phones = [_phone(rng, next(macs), bare=True)] if i % 2 == 0 else []
        else:
            body.update(_details(rng, i, people, extensions))
            phones = [_phone(rng, next(macs)) for _ in range(rng.choice((0, 1, 1, 1, 1, 1, 2, 3)))]
        out.append((body, phones))
    return out


def _people(rng: random.Random, count: int) -> list[dict]:
    """Names, extensions, emails and display names, unique where the PBX needs it."""
    names, extensions, people = set(), set(), []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        display = f"{first} {last}"
        odd = i % 97  # picks the few users with odd values, the same ones for any seed
        if odd == 3:
            display = rng.choice(CJK)
        elif odd == 5:  # the longest display name PortSIP 22.6 keeps (128)
            display = (display + " — " + "Ω" * 128)[:128]
        base = _ascii(f"{first}.{last}").lower().replace(" ", "")
        if odd == 7:
            base = "x" * (63 - len(str(i))) + "-" + str(i)  # the longest name (64)
        elif odd == 11:
            base = base.replace(".", "_")
        name = base[:64].strip(".")
        n = 1
        while name.lower() in names or name.lower() in ("admin", "system", "administrator", "root"):
            n += 1
            name = f"{base[:58].strip('.')}{n}"
        names.add(name.lower())
        extension = f"{1000 + i}" if odd not in (13, 17) else f"0{1000 + i}"
        if odd == 19:
            extension = f"{i:064d}"[-64:].replace("0", "9", 1)  # 64 digits, the longest
        while extension in extensions:
            extension += "1"
        extensions.add(extension)
        local = name.replace("'", "")[:64].strip(".") or f"user{i}"
        email = f"{local}@tenant.example"
        if odd == 23:  # the longest email the API takes (128)
            email = f"{'m' * (128 - len(str(i)) - 20)}{i}@{'d' * 11}.example"
        people.append({"name": name, "display_name": display, "email": email, "role": rng.choice(ROLES),
                       "extension_number": extension})
    return people


def _ascii(text: str) -> str:
    """An account name from a person's name: accents dropped (José: jose), what
    the PBX refuses in a name left out."""
    text = unicodedata.normalize("NFKD", text.translate(SPELLED))
    kept = "".join(c for c in text if c.isascii() and (c.isalnum() or c in "._-'"))
    return kept or "user"


def _secrets(rng: random.Random, person: dict) -> dict:
    words = [w.lower() for w in (person["name"], person["extension_number"], person["email"].partition("@")[0])
             if len(w) >= 3]
    return {"password": _password(rng, words), "extension_password": _password(rng, words), "voicemail_pin": _pin(rng)}


def _password(rng: random.Random, avoid: list[str]) -> str:
    """16 characters cycling through the four classes in a drawn order: no two
    neighbours share a class, so no run (aaa) or sequence (abc, 321) forms and
    PortSIP's default policy passes it."""
    while True:
        order, bits, chars = rng.choice(CLASS_ORDERS), rng.getrandbits(96), []
        for n in range(16):
            pool = order[n % 4]
            chars.append(pool[(bits >> 6 * n & 63) % len(pool)])
        value = "".join(chars)
        if not any(w in value.lower() for w in avoid):
            return value


def _pin(rng: random.Random) -> str:
    digits = [rng.randrange(10)]
    for _ in range(rng.randrange(5, 10)):  # 6-10 digits; no step of 0 or 1: no 111, no 123
        digits.append(rng.choice(PIN_NEXT[digits[-1]]))
    return "".join(map(str, digits))


def _details(rng: random.Random, i: int, people: list[dict], extensions: list[str]) -> dict:
    def colleague() -> int:  # another user, by index (the user itself in a tenant of one)
        return (i + rng.randrange(1, len(people))) % len(people) if len(people) > 1 else i

    def other() -> str:
        return extensions[colleague()]

    keys = rng.choice(BLFS) if len(people) > 1 else 0  # BLF keys, each on another user
    body = {
        "enabled": rng.random() > 0.05,
        "enable_audio_recording": rng.random() < 0.2, "enable_video_recording": rng.random() < 0.05,
        "enable_acb": rng.random() < 0.1, "enable_dnd": rng.random() < 0.05, "enable_hot_desking": rng.random() < 0.1,
        "anonymous_outbound_calls": rng.random() < 0.03, "delivery_outbound_cid": rng.random() < 0.5,
        "sms": rng.choice(USERS["sms"]["enum"]), "voicemail_prompt": rng.choice(PROMPTS),
        "enable_voicemail_pin": rng.random() > 0.1, "enable_voicemail_notify": rng.random() < 0.4,
        "voicemail_play_datetime": rng.choice(USERS["voicemail_play_datetime"]["enum"]),
        "interface": rng.choice(("WEB_DOMAIN",) * 5 + tuple(USERS["interface"]["enum"])),
        "preferred_transport": rng.choice(("UDP", "UDP", "TCP", "TLS")),
        "custom_options": "" if rng.random() < 0.9 else json.dumps({"ring_timeout": rng.randrange(10, 90)}),
        "office_hours": _office_hours(rng),
        "custom_forward_rules": [_custom_rule(rng, other) for _ in range(rng.choice((0, 0, 0, 1, 1, 2, 3)))],
        "blfs": [_blf(people[e], extensions[e]) for e in dict.fromkeys(colleague() for _ in range(keys))],
    }
    body.update(_api_only(rng, i))
    for name, actions in FORWARD_RULES.items():
        if rng.random() < 0.6:
            body[name] = _rule(rng, name, actions, other)
    return {k: v for k, v in body.items() if not (i % 29 == 0 and k in ("custom_options", "blfs"))}


def _blf(person: dict, extension: str) -> dict:
    first, _, last = person["display_name"].partition(" ")
    return {"key": extension, "value": extension, "first_name": first, "last_name": last}


def _outside(rng: random.Random) -> str:
    prefix, digits = rng.choice(OUTSIDE)
    return f"{prefix}{rng.randrange(10 ** digits):0{digits}d}"


def _rule(rng: random.Random, name: str, actions: tuple, colleague) -> dict:
    """`colleague()`: another user's extension."""
    action = rng.choice(actions)
    if action == "FORWARD_TO_NUMBER":
        number = colleague() if rng.random() < 0.5 else _outside(rng)
    elif action == "FORWARD_TO_VOICEMAIL":
        number = "" if rng.random() < 0.7 else colleague()  # another user's mailbox
    else:
        number = ""
    rule = {"action": action, "number": number}
    if "timeout" in USERS[name]["properties"]:
        rule["timeout"] = rng.choice((10, 15, 20, 25, 30, 45, 60, 90, 120))
    return rule


def _custom_rule(rng: random.Random, colleague) -> dict:
    action = rng.choice(USERS["custom_forward_rules"]["items"]["properties"]["action"]["enum"])
    kind = rng.choice(("ALL_HOURS", "SPECIFIC_HOURS", "OUTSIDE_SPECIFIC_HOURS"))
    number = {"FORWARD_TO_NUMBER": colleague() if rng.random() < 0.5 else _outside(rng),
              "FORWARD_TO_VOICEMAIL": ""}.get(action, "")
    rule = {"action": action, "number": number, "caller_id": rng.choice(("", _outside(rng), "anonymous")),
            "type": kind}
    if kind != "ALL_HOURS":
        rule["hours"] = _week(rng)
    return rule


# Day shapes: closed, the whole day, and one to three ranges.
DAY_SHAPES = ([], [("09:00", "17:00")], [("08:30", "12:30"), ("13:30", "17:30")], [("07:00", "11:00")],
              [("00:00", "06:00"), ("22:00", "23:59")], [("08:00", "10:00"), ("11:00", "13:00"), ("14:00", "18:30")],
              [("12:30", "13:30")])


def _day(rng: random.Random, weekend: bool) -> dict:
    if rng.random() < (0.8 if weekend else 0.08):
        return {"enabled": False, "ranges": []}
    if rng.random() < 0.05:
        return {"enabled": True, "ranges": []}  # open all day
    shape = rng.choice(DAY_SHAPES[1:])
    return {"enabled": True, "ranges": [{"from": a, "to": b} for a, b in shape]}


def _week(rng: random.Random) -> dict:
    return {day: _day(rng, day in ("saturday", "sunday")) for day in DAYS}


def _office_hours(rng: random.Random) -> dict:
    if rng.random() < 0.4:  # what the PBX holds for global hours
        return {"mode": "GLOBAL", **{day: {"enabled": True, "ranges": []} for day in DAYS}}
    return {"mode": "CUSTOM", **_week(rng)}


def _api_only(rng: random.Random, i: int) -> dict:
    if i % 31 == 1:
        return {}  # none set
    fields = {"mobile_phone": f"+1415555{rng.randrange(10000):04d}" if rng.random() < 0.7 else "",
              "work_phone": rng.choice(("+44 20 7946 0958", f"+4930{rng.randrange(10**6):06d}", "", "ext. 12")),
              "home_phone": rng.choice(("", "", f"+33 1 {rng.randrange(10**8):08d}")),
              "address": rng.choice(STREETS), "department": rng.choice(DEPARTMENTS)}
    if i % 97 == 5:  # maximal lengths
        fields.update(mobile_phone="+" + "4" * 31, address="Ä" * 128, department="d" * 128)
    if rng.random() < 0.25:
        fields["outbound_caller_ids"] = [
            {"provider_id": "NzAwNTUxOTA5NzczMTQ4MTYw", "caller_id": _outside(rng), "preferred": n == 0,
             "description": rng.choice(("Main line", "Support hotline", "Ligne d'assistance", ""))}
            for n in range(rng.choice((1, 1, 2)))]
    return fields


def _mac(vendor: str, n: int) -> str:
    return f"{PHONES[vendor][0]}:{n >> 16 & 255:02x}:{n >> 8 & 255:02x}:{n & 255:02x}"


def _phone(rng: random.Random, n: int, bare: bool = False) -> dict:
    vendor = list(PHONES)[n % len(PHONES)] if n < len(PHONES) else rng.choice(list(PHONES))
    model, filename = rng.choice(PHONES[vendor][1])
    phone = {"mac": _mac(vendor, n), "filename": filename, "vendor": vendor, "model": model,
             "password": _password(rng, []), "language": rng.choice(LANGUAGES),
             "transfer": rng.choice(("BLIND", "BLIND", "ATTENDED", "NEW_CALL")), "timezone": rng.choice(TIMEZONES),
             "codecs": list(rng.choice(CODECS)), "interface": rng.choice(("PRIVATE_IPV4",) * 4 + ("WEB_DOMAIN",)),
             "preferred_transport": rng.choice(("UDP", "UDP", "TCP", "TLS"))}
    if bare:
        return phone
    vlan = rng.random() < 0.1
    phone.update({
        "ringtone": rng.choice(("", "Ring 1", "Ring3.wav")), "queue_ringtone": rng.choice(("", "Ring 1")),
        "date_format": rng.choice(("", "DD/MM/YYYY", "MM-DD-YYYY")), "time_format": rng.choice(("", "24-hour clock")),
        "powerled": rng.choice(("", "Both (Voicemail and Missed calls)")),
        "backlight": rng.choice(("", "30 seconds", "Always on")), "screensaver": rng.choice(("", "1 hour")),
        "rps": rng.random() < 0.3, "https": rng.random() < 0.3, "enable_lldp": rng.random() < 0.2,
        "enable_vlan_wan_port": vlan, "wan_port_id": rng.randrange(1, 4095) if vlan else 1,
        "wan_port_priority": rng.randrange(8) if vlan else 0, "enable_vlan_pc_port": vlan and rng.random() < 0.5,
        "pc_port_id": 1, "pc_port_priority": 0,
        "serial_number": "" if rng.random() < 0.7 else f"SN{rng.randrange(10**10):010d}",
    })
    if model in DOOR_MODELS:
        phone["door_password1"] = f"{rng.randrange(10**6):06d}"
        if rng.random() < 0.5:
            phone["door_password2"] = f"{rng.randrange(10**4):04d}"
    return phone
