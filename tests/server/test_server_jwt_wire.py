"""The JWT middleware on the wire: a token in a cookie over long-polling (browsers send
it on both transports), the CONNECT_ERROR packet of a refusal, and a recovered session whose
token expired meanwhile (recovery skips the middlewares; the expiry still applies)."""

from __future__ import annotations

import json
import time

import jwt
from server_wire import StartSio

import roomcast

SECRET = "test-secret-" + "0123456789abcdef" * 4


def token(sub: str, lifetime: float) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time() + lifetime)}, SECRET)


async def test_a_cookie_over_polling_and_the_refusal_packet(start_sio: StartSio) -> None:
    harness = await start_sio()
    harness.io.use(roomcast.jwt_auth(secret=SECRET))

    @harness.io.on("whoami")
    def whoami(socket: roomcast.Socket) -> str:
        return str(socket.data["user"])

    with_cookie = await harness.polling(headers={"Cookie": f"token={token('erin', 600)}"})
    await with_cookie.sio_connect()
    await with_cookie.send('421["whoami"]')
    assert await with_cookie.get() == ['431["erin"]']

    without = await harness.polling()
    await without.send("40")
    (reply,) = await without.get()
    assert reply.startswith("44")
    refusal = json.loads(reply[2:])
    assert refusal["data"] == {"code": "token_missing"}
    assert "no token" in refusal["message"]


async def test_a_recovered_session_whose_token_expired_is_disconnected(
    start_sio: StartSio,
) -> None:
    harness = await start_sio(recovery=True)
    auth = roomcast.jwt_auth(secret=SECRET)
    harness.io.use(auth)
    first = await harness.websocket()
    await first.send("40" + json.dumps({"token": token("frank", 600)}))
    answer = json.loads((await first.recv_text())[2:])
    offset = await harness.io.emit("tick", 1)
    assert json.loads((await first.recv_text())[2:]) == ["tick", 1, offset]
    assert auth.watched == 1
    # while the client is away, its token passes its expiry (the session keeps the claims)
    harness.io.sockets.sockets[answer["sid"]].data["jwt"]["exp"] = int(time.time()) - 1
    await first.aclose()
    await harness.log.until(lambda: answer["sid"] in harness.log.disconnects, "a disconnect")
    assert auth.watched == 0

    back = await harness.websocket()
    recovering = {"token": token("frank", 600), "pid": answer["pid"], "offset": offset}
    await back.send("40" + json.dumps(recovering))

    assert json.loads((await back.recv_text())[2:])["sid"] == answer["sid"]  # recovered
    told = json.loads((await back.recv_text())[2:])
    assert told == ["unauthorized", {"code": "token_expired", "message": "the token has expired"}]
    assert await back.recv_text() == "41"
