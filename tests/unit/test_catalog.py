"""portal/catalog.py: decoding and checking the catalog file."""

import pytest

from portal.catalog import CatalogError, parse, read

GOOD = """
version = "t1"
[fields.npi]
label = "NPI"
pattern = '^[0-9]{10}$'
example = "1234567893"
format = "npi"

[[applications]]
code = "APP"
name = "An application"
[[applications.roles]]
code = "user"
name = "User"
fields = ["npi"]
approval_levels = 1
review_days = 12
"""


def test_shipped_catalog_is_realistic():
    catalog = read()
    roles = [r for a in catalog.applications for r in a.roles]
    assert len(catalog.applications) >= 8 and len(roles) >= 20
    assert set(catalog.fields) == {
        "tin",
        "legal_business_name",
        "contract_number",
        "gentran_mailbox",
        "npi",
        "organization_number",
    }
    assert {r.approval_levels for r in roles} == {1, 2}
    assert all(12 <= r.review_days <= 60 for r in roles)
    assert any(a.requires_ssn for a in catalog.applications)
    assert any(not a.requires_ssn for a in catalog.applications)
    assert catalog.fields["tin"].sensitive
    # The roles that see beneficiaries' or patients' information require a second factor.
    marked = {(a.code, r.code) for a in catalog.applications for r in a.roles if r.mfa}
    assert ("MARX", "mco-submitter") in marked and ("EQRS", "facility-viewer") in marked
    assert ("PSR", "provider-user") not in marked and len(marked) < len(roles)


def test_good_catalog_parses():
    catalog = parse(GOOD)
    assert catalog.applications[0].roles[0].fields == ["npi"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("approval_levels = 1", "approval_levels = 3"),
            "application APP, role user, field approval_levels: Expected `int` <= 2",
        ),
        (
            ("review_days = 12", "review_days = 11"),
            "application APP, role user, field review_days: Expected `int` >= 12",
        ),
        (
            ("review_days = 12", "review_days = 61"),
            "application APP, role user, field review_days: Expected `int` <= 60",
        ),
        (("review_days = 12\n", ""), "application APP, role user, field review_days: required"),
        (('fields = ["npi"]', 'fields = ["ssn"]'), "application APP, role user, field fields: unknown field 'ssn'"),
        (
            ('fields = ["npi"]', 'fields = ["npi", "npi"]'),
            "application APP, role user, field fields: a field is listed twice",
        ),
        (('name = "An application"', "name = 5"), "application APP, field name: Expected `str`, got `int`"),
        (
            ('example = "1234567893"', 'example = "1234567890"'),
            "field npi, field example: '1234567890' does not pass its own rule",
        ),
        (
            ('format = "npi"', 'format = "crc"'),
            "field npi, field format: unknown format 'crc' (known: code, npi, text, tin)",
        ),
        (("pattern = '^[0-9]{10}$'", "pattern = '^[0-9'"), "field npi, field pattern: not a valid regular expression"),
        (('label = "NPI"\n', ""), "field npi, field label: required"),
        (('version = "t1"', 'version = "t1"\ncolour = "blue"'), "the file: Object contains unknown field `colour`"),
        (
            ('code = "user"', 'code = "a user"'),
            "application APP, role a user, field code: Expected `str` matching regex",
        ),
    ],
)
def test_malformed_catalog_names_the_entry_and_field(change, message):
    old, new = change
    assert old in GOOD
    with pytest.raises(CatalogError) as exc:
        parse(GOOD.replace(old, new, 1))
    assert str(exc.value).startswith(message)


def test_duplicate_codes_are_refused():
    app = GOOD[GOOD.index("[[applications]]") :]
    with pytest.raises(CatalogError, match="application APP, field code: listed twice"):
        parse(GOOD + app)
    role = GOOD[GOOD.index("[[applications.roles]]") :]
    with pytest.raises(CatalogError, match="role user, field code: listed twice in this application"):
        parse(GOOD + role)


def test_not_toml_is_refused():
    with pytest.raises(CatalogError, match="not valid TOML"):
        parse("version = ")


CLIENT = """
  [applications.client]
  client_id = "app-client"
  type = "confidential"
  redirect_uris = ["https://app.example.gov/callback"]
  post_logout_redirect_uris = ["https://app.example.gov/"]
  login_url = "https://app.example.gov/"
"""


def test_an_application_may_declare_its_openid_connect_client():
    catalog = parse(GOOD + CLIENT, production=True)
    client = catalog.applications[0].client
    assert client is not None and client.client_id == "app-client" and client.type == "confidential"
    assert client.redirect_uris == ["https://app.example.gov/callback"] and not client.offline_access
    shipped = read(production=True)  # the shipped catalog's clients hold in production
    assert {a.client.client_id for a in shipped.applications if a.client} == {"hpms", "marx"}


LOCAL = """
  [applications.client.local]
  redirect_uris = ["http://app.localhost:8001/redirect_uri"]
  post_logout_redirect_uris = ["http://app.localhost:8001/loggedout"]
  login_url = "http://app.localhost:8001/"
"""


def test_a_clients_local_addresses_are_added_outside_production_only():
    local = parse(GOOD + CLIENT + LOCAL).applications[0].client
    assert local is not None and local.local is None  # merged, not kept apart
    assert local.redirect_uris == ["https://app.example.gov/callback", "http://app.localhost:8001/redirect_uri"]
    assert local.post_logout_redirect_uris == ["https://app.example.gov/", "http://app.localhost:8001/loggedout"]
    assert local.login_url == "http://app.localhost:8001/"  # make run's demo application
    production = parse(GOOD + CLIENT + LOCAL, production=True).applications[0].client
    assert production is not None and production.local is None
    assert production.redirect_uris == ["https://app.example.gov/callback"]
    assert production.post_logout_redirect_uris == ["https://app.example.gov/"]
    assert production.login_url == "https://app.example.gov/"
    # A local address is still checked: http only for this machine, never a wildcard.
    with pytest.raises(CatalogError, match="field redirect_uris: .*http:// only for localhost"):
        parse(GOOD + CLIENT + LOCAL.replace("http://app.localhost:8001/redirect_uri", "http://app.example.gov/cb"))
    with pytest.raises(CatalogError, match="wildcards are not allowed"):
        parse(GOOD + CLIENT + LOCAL.replace("app.localhost:8001/redirect_uri", "*.localhost:8001/cb"))


def test_the_shipped_catalog_in_production_keeps_only_the_https_addresses():
    for production, expected in ((True, 1), (False, 2)):
        clients = [a.client for a in read(production=production).applications if a.client]
        assert {c.client_id for c in clients} == {"hpms", "marx"}
        for client in clients:
            assert len(client.redirect_uris) == expected and len(client.post_logout_redirect_uris) == expected
            https = client.redirect_uris[0], client.post_logout_redirect_uris[0]
            assert all(u.startswith(f"https://{client.client_id}.cms.gov/") for u in https)
            if production:
                assert client.login_url == f"https://{client.client_id}.cms.gov/"
            else:
                assert client.redirect_uris[1] == f"http://{client.client_id}.localhost:8001/redirect_uri"
                assert client.login_url == f"http://{client.client_id}.localhost:8001/"
    production = [u for a in read(production=True).applications if a.client for u in a.client.redirect_uris]
    assert all(u.startswith("https://") for u in production)


@pytest.mark.parametrize(
    ("change", "production", "message"),
    [
        ("https://app.example.gov/callback", True, None),
        ("http://app.example.gov/callback", False, "must start with https:// (http:// only for localhost)"),
        ("http://localhost:8080/callback", True, "must start with https://"),
        ("https://*.example.gov/callback", False, "wildcards are not allowed"),
        ("https://app.example.gov/cb#frag", False, "must be an absolute address"),
        ("https://user:pw@app.example.gov/cb", False, "must be an absolute address"),
        ("https:///callback", False, "must be an absolute address"),
        ("javascript:alert(1)//", False, "must start with https://"),
    ],
)
def test_client_addresses_are_exact_and_https(change, production, message):
    text = GOOD + CLIENT.replace("https://app.example.gov/callback", change)
    if message is None:
        assert parse(text, production=production).applications[0].client
        assert parse(GOOD + CLIENT.replace("https://app.example.gov/callback", "http://localhost:8080/cb"))
        return
    with pytest.raises(CatalogError) as exc:
        parse(text, production=production)
    assert str(exc.value).startswith("application APP, client app-client, field redirect_uris: ")
    assert message in str(exc.value)


def test_a_client_id_belongs_to_one_application_and_needs_a_redirect_address():
    second = (GOOD + CLIENT)[GOOD.index("[[applications]]") :].replace('code = "APP"', 'code = "APP2"', 1)
    with pytest.raises(CatalogError, match="client app-client, field client_id: used by two applications"):
        parse(GOOD + CLIENT + second)
    with pytest.raises(CatalogError, match="redirect_uris"):
        parse(GOOD + CLIENT.replace('["https://app.example.gov/callback"]', "[]"))
    with pytest.raises(CatalogError, match="type"):
        parse(GOOD + CLIENT.replace('"confidential"', '"secret"'))
