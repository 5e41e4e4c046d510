"""Onboards a fresh Home Assistant Core on loopback and prints a long-lived access token.

Run with the Home Assistant venv's Python (it has aiohttp):
    ha_onboard.py http://127.0.0.1:8129

The steps a person takes in the browser, over Home Assistant's own API: create the owner
(/api/onboarding/users), trade the auth code for tokens (/auth/token), finish the remaining
onboarding steps, then ask the websocket for a long-lived token (auth/long_lived_access_token).
"""

import asyncio
import sys

import aiohttp


async def main(base: str) -> str:
    client_id = f"{base}/"
    async with aiohttp.ClientSession() as http:
        for _ in range(240):
            try:
                async with http.get(f"{base}/api/onboarding") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.5)
        else:
            raise SystemExit("Home Assistant did not answer /api/onboarding")
        async with http.post(
            f"{base}/api/onboarding/users",
            json={
                "client_id": client_id,
                "name": "Lifeboat Test",
                "username": "lifeboat",
                "password": "lifeboat-test-password",
                "language": "en",
            },
        ) as r:
            if r.status != 200:
                raise SystemExit(f"onboarding/users: HTTP {r.status} {await r.text()}")
            code = (await r.json())["auth_code"]
        async with http.post(
            f"{base}/auth/token",
            data={"grant_type": "authorization_code", "code": code, "client_id": client_id},
        ) as r:
            if r.status != 200:
                raise SystemExit(f"auth/token: HTTP {r.status} {await r.text()}")
            access = (await r.json())["access_token"]
        headers = {"Authorization": f"Bearer {access}"}
        for step, body in (
            ("core_config", {}),
            ("analytics", {}),
            ("integration", {"client_id": client_id, "redirect_uri": f"{base}/?auth_callback=1"}),
        ):
            async with http.post(f"{base}/api/onboarding/{step}", json=body, headers=headers) as r:
                if r.status not in (200, 403):  # 403: the step was already done
                    raise SystemExit(f"onboarding/{step}: HTTP {r.status} {await r.text()}")
        async with http.ws_connect(f"{base}/api/websocket") as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": access})
            ok = await ws.receive_json()
            if ok.get("type") != "auth_ok":
                raise SystemExit(f"websocket auth: {ok}")
            await ws.send_json(
                {
                    "id": 1,
                    "type": "auth/long_lived_access_token",
                    "client_name": "lifeboat-tests",
                    "lifespan": 30,
                }
            )
            res = await ws.receive_json()
            if not res.get("success"):
                raise SystemExit(f"long-lived token: {res}")
            return res["result"]


if __name__ == "__main__":
    print(asyncio.run(main(sys.argv[1].rstrip("/"))))
