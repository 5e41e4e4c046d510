#!/usr/bin/env python3
"""Records what a real Home Assistant Core says about updates and backup events, for the test
double (tests/data/transcripts/ws-updates-<version>.json).

Run it with Home Assistant's own Python against a Home Assistant started with `demo:` in its
configuration (the demo integration's update entities: one with progress, one without install
support, one with no update) and onboarded:

    target/test-servers/ha/bin/python scripts/record-update-transcript.py URL TOKEN OUT.json

Every message sent and received is kept in order with its time, tokens redacted. Of `get_states`
only the `update.*` states are kept, and of `state_changed` events only the installed entity's
(the demo integration has a hundred other entities that say nothing about updates).
"""

import asyncio
import json
import sys
import time

import aiohttp

WATCHED = "update.demo_update_with_progress"


class Recorder:
    def __init__(self, ws, log, t0, name):
        self.ws, self.log, self.t0, self.name = ws, log, t0, name
        self.next_id = 1

    def keep(self, direction, msg):
        self.log.append({"t": round(time.monotonic() - self.t0, 3), "conn": self.name,
                         "dir": direction, "msg": msg})

    async def send(self, msg):
        shown = dict(msg)
        if "access_token" in shown:
            shown["access_token"] = "<redacted>"
        self.keep("->", shown)
        await self.ws.send_json(msg)

    async def recv(self, timeout=60):
        msg = await self.ws.receive_json(timeout=timeout)
        shown = msg
        if msg.get("type") == "result" and isinstance(msg.get("result"), list) \
                and msg["result"] and isinstance(msg["result"][0], dict) \
                and "entity_id" in msg["result"][0]:
            shown = dict(msg)
            shown["result"] = [s for s in msg["result"] if s["entity_id"].startswith("update.")]
            shown["note"] = "get_states: only the update.* states are kept"
        if msg.get("type") == "event" and msg["event"].get("event_type") == "state_changed" \
                and msg["event"]["data"].get("entity_id") != WATCHED:
            return msg
        self.keep("<-", shown)
        return msg

    async def call(self, msg, timeout=120):
        mid = self.next_id
        self.next_id += 1
        await self.send({"id": mid, **msg})
        while True:
            m = await self.recv(timeout)
            if m.get("id") == mid and m.get("type") in ("result", "pong"):
                return m


async def connect(session, url, token, log, t0, name):
    ws = await session.ws_connect(url.replace("http", "ws", 1) + "/api/websocket")
    r = Recorder(ws, log, t0, name)
    await r.recv()
    await r.send({"type": "auth", "access_token": token})
    await r.recv()
    return r


async def drain_until(r, pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            m = await r.recv(timeout=max(0.1, end - time.monotonic()))
        except asyncio.TimeoutError:
            return None
        if pred(m):
            return m
    return None


async def main(url, token, out):
    log, t0 = [], time.monotonic()
    async with aiohttp.ClientSession() as session:
        a = await connect(session, url, token, log, t0, "a")
        watcher = await connect(session, url, token, log, t0, "watcher")
        # The backup manager's events, on a connection that does not make the backup.
        await watcher.call({"type": "backup/subscribe_events"})
        states = await a.call({"type": "get_states"})
        updates = [s["entity_id"] for s in states["result"] if s["entity_id"].startswith("update.")]
        for entity in updates[:2]:
            await a.call({"type": "config/entity_registry/get", "entity_id": entity})
        await a.call({"type": "subscribe_events", "event_type": "state_changed"})
        # An install that works, with its progress.
        await a.call({"type": "call_service", "domain": "update", "service": "install",
                      "target": {"entity_id": WATCHED}, "service_data": {}}, timeout=120)
        # Installs that Home Assistant refuses.
        await a.call({"type": "call_service", "domain": "update", "service": "install",
                      "target": {"entity_id": "update.demo_update_no_install"}, "service_data": {}})
        await a.call({"type": "call_service", "domain": "update", "service": "install",
                      "target": {"entity_id": "update.demo_no_update"}, "service_data": {}})
        await a.call({"type": "call_service", "domain": "update", "service": "install",
                      "target": {"entity_id": "update.does_not_exist"}, "service_data": {}})
        await a.call({"type": "call_service", "domain": "update", "service": "install",
                      "target": {"entity_id": WATCHED}, "service_data": {"backup": True}})
        await a.call({"type": "get_states"})
        # A backup made by Home Assistant itself, as the watcher sees it.
        agents = await a.call({"type": "backup/agents/info"})
        agent = agents["result"]["agents"][0]["agent_id"]
        made = await a.call({"type": "backup/generate", "agent_ids": [agent],
                             "name": "Lifeboat transcript"})
        await drain_until(watcher, lambda m: m.get("type") == "event"
                          and m["event"].get("manager_state") == "idle", 120)
        await a.call({"type": "backup/info"})
        # A subscription ended, and made again on a new connection.
        await watcher.ws.close()
        again = await connect(session, url, token, log, t0, "again")
        await again.call({"type": "backup/subscribe_events"})
        await again.ws.close()
        await a.ws.close()
    result = {"ha_url": url, "ha_version": log[0]["msg"].get("ha_version"),
              "backup_job": made.get("result"), "update_entities": updates}
    with open(out, "w") as f:
        json.dump({"result": result, "transcript": log}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
