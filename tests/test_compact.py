"""The compact-form writer (generator/compact.py) on its own: resolved roster
users in, the compact roster document out, with no CSV in between (as
adopting a live tenant will use it)."""

import copy

from generator.compact import compact_roster


def _user(number: str, name: str, **more) -> dict:
    return {"name": name, "display_name": name.title(), "extension_number": number,
            "email": f"{name}@example.com", "sms": "ENABLE", **more}


def test_shared_values_are_lifted_into_defaults_and_phone_models():
    phone = {"model": "T46U", "vendor": "Yealink", "filename": "y.cfg", "language": "ENGLISH"}
    users = [_user("101", "ann", phones=[{"mac": "0c:38:3e:00:00:01", **phone}]),
             _user("102", "bob", phones=[{"mac": "0c:38:3e:00:00:02", **phone}]),
             _user("103", "cat", sms="DISABLE")]
    before = copy.deepcopy(users)
    roster = compact_roster(users, ["name", "display_name", "extension_number", "email", "sms", "phones"], "v22")
    assert users == before  # the caller's users are left as they were
    assert list(roster) == ["pbx_version", "defaults", "phone_models", "users"]
    assert roster["pbx_version"] == "v22"
    assert roster["defaults"] == {"email": "{{ name }}@example.com", "sms": "ENABLE"}
    assert roster["phone_models"] == {"T46U": {"vendor": "Yealink", "filename": "y.cfg"}}
    assert roster["users"] == [
        {"name": "ann", "display_name": "Ann", "extension_number": "101",
         "phones": [{"mac": "0c:38:3e:00:00:01", "model": "T46U"}]},
        {"name": "bob", "display_name": "Bob", "extension_number": "102",
         "phones": [{"mac": "0c:38:3e:00:00:02", "model": "T46U"}]},
        {"name": "cat", "display_name": "Cat", "extension_number": "103", "sms": "DISABLE"},
    ]


def test_extra_columns_are_written_before_the_defaults():
    roster = compact_roster([_user("101", "ann")], ["name", "extension_number"], "v22", [{"name": "Room"}])
    assert list(roster)[:2] == ["pbx_version", "extra_columns"]
    assert roster["extra_columns"] == [{"name": "Room"}]
