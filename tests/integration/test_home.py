"""The Getting Ready page and the catalog page (portal/controllers/home.py)."""

import html5lib

from portal.assets import AssetManifest

NS = {"h": "http://www.w3.org/1999/xhtml"}


def parse(text: str):
    return html5lib.parse(text)


def texts(doc, xpath: str) -> list[str]:
    return ["".join(el.itertext()).strip() for el in doc.findall(xpath, NS)]


async def test_getting_ready_has_the_seed_content(client):
    response = await client.get("/")
    assert response.status_code == 200
    doc = parse(response.text)
    assert texts(doc, ".//h:h1") == ["Getting ready to register for an IACS User ID"]
    start = doc.findall(".//h:nav[@aria-label='Start here']/h:a", NS)
    assert [(a.text, a.get("href")) for a in start] == [
        ("New User Registration", "/register"),
        ("Log in", "/login"),
        ("Check registration status", "/status"),
    ]
    sections = texts(doc, ".//h:main//h:h2")
    assert sections == [
        "What to have ready",
        "Registering for an account",
        "The 6 registration steps",
        "Getting approved",
        "First login",
        "Logging in to CMS applications",
    ]
    steps = [s.split(":")[0] for s in texts(doc, ".//h:ol[@class='steps']/h:li")]
    assert steps == [
        "New User Registration",
        "Email Verification",
        "Contact Information",
        "Authentication Questions",
        "Review Details",
        "Acknowledgement",
    ]
    ready = " ".join(texts(doc, ".//h:main//h:ul/h:li"))
    for item in ("Social Security Number", "Tax Identification Number", "Legal Business Name", "NPI"):
        assert item in ready
    assert "between 12 and 60 days" in " ".join(texts(doc, ".//h:main//h:p"))


async def test_layout_is_accessible(client):
    doc = parse((await client.get("/")).text)
    html = doc.getroot() if hasattr(doc, "getroot") else doc
    assert html.get("lang") == "en"
    skip = doc.find(".//h:a[@class='skip-link']", NS)
    assert skip is not None and skip.get("href") == "#main"
    assert doc.find(".//h:main[@id='main']", NS) is not None
    assert doc.find(".//h:header", NS) is not None and doc.find(".//h:footer", NS) is not None


async def test_layout_loads_only_hashed_local_assets(client):
    doc = parse((await client.get("/")).text)
    manifest = AssetManifest()
    scripts = [el.get("src") for el in doc.findall(".//h:script", NS)]
    styles = [el.get("href") for el in doc.findall(".//h:link[@rel='stylesheet']", NS)]
    assert scripts == [manifest.url("vendor/htmx-2.0.11.min.js")]
    assert styles == [manifest.url("portal.css")]
    # No inline script or style anywhere: the CSP forbids them.
    assert all(el.get("src") for el in doc.findall(".//h:script", NS))
    assert doc.findall(".//h:style", NS) == []
    assert not [el for el in doc.iter() if el.get("style")]
    config = doc.find(".//h:meta[@name='htmx-config']", NS).get("content")
    assert '"historyRestoreAsHxRequest":false' in config
    assert '"includeIndicatorStyles":false' in config


async def test_catalog_page_lists_every_active_application_and_role(client):
    from portal.catalog import read

    catalog = read()
    response = await client.get("/applications")
    assert response.status_code == 200
    doc = parse(response.text)
    headings = texts(doc, ".//h:section/h:h2")
    assert headings == [f"{a.name} ({a.code})" for a in catalog.applications]
    rows = doc.findall(".//h:section//h:tbody/h:tr", NS)
    assert len(rows) == sum(len(a.roles) for a in catalog.applications)
    first_role = catalog.applications[0].roles[0]
    first_row = "".join(rows[0].itertext())
    assert first_role.name in first_row and f"up to {first_role.review_days} days" in first_row


async def test_unknown_page_is_an_html_404(client):
    response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert texts(parse(response.text), ".//h:h1") == ["Page not found"]
