"""The Getting Ready page and the catalog page (portal/controllers/home.py)."""

from portal.assets import AssetManifest
from tests.htmlcheck import attr, attrs, element, norm, page, texts
from tests.support import url


async def test_getting_ready_has_the_seed_content(client):
    response = await client.get(url(client, "home:getting-ready"))
    assert response.status_code == 200
    doc = page(response)
    assert texts(doc, "h1") == ["Getting ready to register for an IACS User ID"]
    start = doc.select("nav[aria-label='Start here'] > a")
    assert [(norm(a.get_text()), a["href"]) for a in start] == [
        ("New User Registration", url(client, "registration:start")),
        ("Log in", url(client, "accounts:login")),
        ("Check registration status", url(client, "status:form")),
    ]
    sections = texts(doc, "main h2")
    assert sections == [
        "What to have ready",
        "Registering for an account",
        "The 6 registration steps",
        "Getting approved",
        "First login",
        "Logging in to CMS applications",
    ]
    steps = [s.split(":")[0] for s in texts(doc, "ol.steps > li")]
    assert steps == [
        "New User Registration",
        "Email Verification",
        "Contact Information",
        "Authentication Questions",
        "Review Details",
        "Acknowledgement",
    ]
    ready = " ".join(texts(doc, "main ul > li"))
    for item in ("Social Security Number", "Tax Identification Number", "Legal Business Name", "NPI"):
        assert item in ready
    assert "between 12 and 60 days" in " ".join(texts(doc, "main p"))


async def test_layout_is_accessible(client):
    doc = page(await client.get(url(client, "home:getting-ready")))
    assert attr(doc, "html", "lang") == "en"
    assert attr(doc, "a.skip-link", "href") == "#main"
    assert doc.select_one("main#main") is not None
    assert doc.select_one("header") is not None and doc.select_one("footer") is not None


async def test_layout_loads_only_hashed_local_assets(client):
    doc = page(await client.get(url(client, "home:getting-ready")))
    manifest = AssetManifest()
    scripts = [el.get("src") for el in doc.select("script")]
    styles = attrs(doc, "link[rel=stylesheet]", "href")
    assert scripts == [manifest.url("portal.js")]  # htmx and the portal's own, one deferred file
    assert all(el.has_attr("defer") for el in doc.select("script"))
    assert styles == [manifest.url("portal.css")]
    # No inline script or style anywhere: the CSP forbids them.
    assert all(el.get("src") for el in doc.select("script"))
    assert doc.select("style") == []
    assert doc.select("[style]") == []
    config = attr(doc, "meta[name=htmx-config]", "content")
    assert '"historyRestoreAsHxRequest":false' in config
    assert '"includeIndicatorStyles":false' in config


async def test_catalog_page_lists_every_active_application_and_role(client):
    from portal.catalog import read

    catalog = read()
    response = await client.get(url(client, "home:applications"))
    assert response.status_code == 200
    doc = page(response)
    headings = texts(doc, "section > h2")
    assert headings == [f"{a.name} ({a.code})" for a in catalog.applications]
    rows = doc.select("section tbody > tr")
    assert len(rows) == sum(len(a.roles) for a in catalog.applications)
    first_role = catalog.applications[0].roles[0]
    role_cell = element(rows[0], "th[scope=row]")
    assert norm(role_cell.find(string=True, recursive=False)) == first_role.name  # before its description
    assert texts(rows[0], "td")[-1].endswith(f", up to {first_role.review_days} days")  # the Approval column


async def test_unknown_page_is_an_html_404(client):
    response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert texts(page(response), "h1") == ["Page not found"]
