#!/usr/bin/env python3
"""Writes src/archive/readiness/ha_domains.txt from a Home Assistant Core installed by pip: one line per
integration it ships, `domain kind`, where kind is

  oauth  signs in through a browser (it has application_credentials.py, or its config flow is
         an OAuth2 flow handler)
  login  a cloud service whose config flow asks for a password
  known  any other integration Home Assistant ships

Usage: scripts/ha-domains.py [SITE_PACKAGES]  (default: the test servers' Home Assistant)
"""
import glob
import json
import os
import sys

site = sys.argv[1] if len(sys.argv) > 1 else glob.glob(
    "target/test-servers/ha/lib/python3*/site-packages")[0]
components = os.path.join(site, "homeassistant", "components")
version = open(os.path.join(site, "homeassistant", "const.py")).read()
major = version.split("MAJOR_VERSION: Final = ")[1].split("\n")[0]
minor = version.split("MINOR_VERSION: Final = ")[1].split("\n")[0]
patch = version.split('PATCH_VERSION: Final = "')[1].split('"')[0]


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


lines = []
for manifest in sorted(glob.glob(os.path.join(components, "*", "manifest.json"))):
    folder = os.path.dirname(manifest)
    domain = json.load(open(manifest, encoding="utf-8"))["domain"]
    iot = json.load(open(manifest, encoding="utf-8")).get("iot_class", "")
    flow = read(os.path.join(folder, "config_flow.py"))
    if os.path.exists(os.path.join(folder, "application_credentials.py")) or "OAuth2FlowHandler" in flow:
        kind = "oauth"
    elif iot.startswith("cloud") and "CONF_PASSWORD" in flow:
        kind = "login"
    else:
        kind = "known"
    lines.append(f"{domain} {kind}")

out = os.path.join(os.path.dirname(__file__), "..", "src", "archive", "readiness", "ha_domains.txt")
with open(out, "w", encoding="utf-8") as f:
    f.write(f"# Integrations Home Assistant {major}.{minor}.{patch} ships, by how they sign in "
            "(written by scripts/ha-domains.py)\n")
    f.write("\n".join(lines) + "\n")
print(f"{len(lines)} domains from Home Assistant {major}.{minor}.{patch}")
