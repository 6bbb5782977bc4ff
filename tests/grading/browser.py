"""Open a page in headless Chromium (Debian's ``chromium`` package), as a teacher's browser would,
and tell what it showed and what it fetched.

The page is opened from a file, in a network namespace of its own (no request can leave this
machine), with Chromium's NetLog on: a request the page made is one whose network isolation key
is the page's own site (``file://``); Chromium's own background requests (updates, time) have
another key and are not the page's doing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

# Runs in the page after its own script: what a reader would see, written where --dump-dom shows
# it. It clicks the total's column title twice (descending order), as a teacher sorting would.
PROBE = """
<script>
(function(){
  var svgs=document.querySelectorAll('.plot svg');var shown=0;
  svgs.forEach(function(s){var r=s.getBoundingClientRect();if(r.width>200&&r.height>100)shown++;});
  var bars=document.querySelectorAll('.plot svg path, .plot svg rect').length;
  var b=document.body;b.setAttribute('data-probe-svgs',String(shown));
  b.setAttribute('data-probe-shapes',String(bars));
  var table=document.getElementById('learners');
  if(table){var heads=table.tHead.rows[0].cells;var total=null;
    for(var i=0;i<heads.length;i++){if(heads[i].getAttribute('data-key')==='total')total=heads[i];}
    if(total){total.click();total.click();
      var order=Array.prototype.map.call(table.tBodies[0].rows,function(r){
        return r.querySelector('[data-col=total]').getAttribute('data-v');});
      b.setAttribute('data-probe-sorted',order.join(','));}}
})();
</script>
"""


def chromium() -> str:
    """The Chromium binary; skip (or fail under CI=true) when it is not installed."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    message = "Chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def open_page(page: Path, work: Path, *, probe: bool = True) -> dict:
    """Load ``page`` (a copy, with the probe added) and return {"dom": text after the scripts,
    "fetched": [URLs the page asked for], "attrs": the probe's findings}."""
    work.mkdir(parents=True, exist_ok=True)
    copy = work / "page.html"
    text = page.read_text(encoding="utf-8")
    copy.write_text(text.replace("</body>", PROBE + "</body>") if probe else text,
                    encoding="utf-8")
    netlog = work / "netlog.json"
    command = [chromium(), "--headless", "--disable-gpu", "--no-first-run",
               "--no-default-browser-check", "--disable-extensions",
               "--disable-background-networking", f"--user-data-dir={work / 'profile'}",
               f"--log-net-log={netlog}", "--virtual-time-budget=5000",
               "--window-size=1280,2000", "--dump-dom", copy.as_uri()]
    if os.geteuid() == 0:
        command.insert(1, "--no-sandbox")  # Chromium's own sandbox refuses to run as root
        command = ["unshare", "--net", "--", *command]  # and no way out of this machine
    proc = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    attrs = dict(re.findall(r'data-probe-(\w+)="([^"]*)"', proc.stdout))
    return {"dom": proc.stdout, "fetched": page_requests(netlog), "attrs": attrs}


def page_requests(netlog: Path) -> list[str]:
    """The URLs that the page (whose site is ``file://``) asked Chromium's network stack for."""
    data = json.loads(netlog.read_text())
    start = data["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return sorted({event["params"]["url"] for event in data["events"]
                   if event["type"] == start and "url" in event.get("params", {})
                   and event["params"].get("network_isolation_key", "").startswith("file://")})
