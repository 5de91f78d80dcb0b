/* The authenticated frame format between nodes (see msg.h). Pure: no sockets here.
 *
 * hello  = "SHL1" | version u8 | node u32 | service[32] | nonce[32] | mac[32]
 *          client mac = HMAC(key, "C" | hello without mac)
 *          server mac = HMAC(key, "S" | client nonce | hello without mac)
 * session = HMAC(key, "shoal session" | client nonce | server nonce)
 * frame  = length u32 | seq u64 | payload | HMAC(session, direction | seq | length | payload)
 * Sequence numbers start at 1 in each direction and must arrive in order. */
#include <errno.h>
#include <string.h>
#include <sodium.h>

#include "msg/msg.h"

#define HELLO_BODY (MSG_HELLO_LEN - MSG_MAC_LEN)

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, v >> 32);
	put32(p + 4, (uint32_t)v);
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

void msg_wire_init(struct msg_wire *w, bool client)
{
	memset(w, 0, sizeof *w);
	w->client = client;
	randombytes_buf(w->nonce_local, sizeof w->nonce_local);
	crypto_auth_hmacsha256_init(&w->keyed, w->session, sizeof w->session);
}

/* role 'C' or 'S'; a server's hello is bound to the client's nonce so it cannot be replayed
 * into another connection. */
static void hello_mac(const uint8_t *key, size_t keylen, char role, const uint8_t *client_nonce,
                      const uint8_t *body, uint8_t mac[MSG_MAC_LEN])
{
	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)&role, 1);
	if (role == 'S')
		crypto_auth_hmacsha256_update(&st, client_nonce, MSG_NONCE_LEN);
	crypto_auth_hmacsha256_update(&st, body, HELLO_BODY);
	crypto_auth_hmacsha256_final(&st, mac);
}

void msg_wire_hello(const struct msg_wire *w, const uint8_t *key, size_t keylen, uint32_t node,
                    const char *service, uint8_t out[MSG_HELLO_LEN])
{
	memset(out, 0, MSG_HELLO_LEN);
	memcpy(out, "SHL1", 4);
	out[4] = PROTO_VERSION;
	put32(out + 5, node);
	strncpy((char *)out + 9, service, MSG_SERVICE_MAX - 1);
	memcpy(out + 9 + MSG_SERVICE_MAX, w->nonce_local, MSG_NONCE_LEN);
	hello_mac(key, keylen, w->client ? 'C' : 'S', w->client ? NULL : w->nonce_peer, out,
	          out + HELLO_BODY);
}

int msg_wire_take_hello(struct msg_wire *w, const uint8_t *key, size_t keylen,
                        const uint8_t in[MSG_HELLO_LEN], uint32_t *node, char service[MSG_SERVICE_MAX])
{
	uint8_t mac[MSG_MAC_LEN];
	const uint8_t *svc = in + 9, *nonce = in + 9 + MSG_SERVICE_MAX;

	if (memcmp(in, "SHL1", 4) != 0 || svc[MSG_SERVICE_MAX - 1] != 0 || in[4] < PROTO_VERSION_MIN ||
	    in[4] > PROTO_VERSION) {
		errno = EBADMSG;
		return -1;
	}
	/* We are the client: the peer is a server and must have answered our nonce. */
	hello_mac(key, keylen, w->client ? 'S' : 'C', w->nonce_local, in, mac);
	if (crypto_verify_32(mac, in + HELLO_BODY) != 0) {
		errno = EACCES;
		return -1;
	}
	*node = get32(in + 5);
	memcpy(service, svc, MSG_SERVICE_MAX);
	memcpy(w->nonce_peer, nonce, MSG_NONCE_LEN);

	crypto_auth_hmacsha256_state st;
	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)"shoal session", 13);
	crypto_auth_hmacsha256_update(&st, w->client ? w->nonce_local : w->nonce_peer, MSG_NONCE_LEN);
	crypto_auth_hmacsha256_update(&st, w->client ? w->nonce_peer : w->nonce_local, MSG_NONCE_LEN);
	crypto_auth_hmacsha256_final(&st, w->session);
	crypto_auth_hmacsha256_init(&w->keyed, w->session, sizeof w->session);
	w->tx_seq = 0;
	w->rx_seq = 0;
	return 0;
}

static void frame_mac(const struct msg_wire *w, char dir, const uint8_t *hdr, const void *payload,
                      size_t len, uint8_t mac[MSG_MAC_LEN])
{
	crypto_auth_hmacsha256_state st = w->keyed;
	crypto_auth_hmacsha256_update(&st, (const uint8_t *)&dir, 1);
	crypto_auth_hmacsha256_update(&st, hdr, MSG_FRAME_HDR);
	crypto_auth_hmacsha256_update(&st, payload, len);
	crypto_auth_hmacsha256_final(&st, mac);
}

size_t msg_wire_seal(struct msg_wire *w, const void *payload, size_t len, uint8_t *out)
{
	memmove(out + MSG_FRAME_HDR, payload, len); /* first: payload may already sit there */
	put32(out, (uint32_t)len);
	put64(out + 4, ++w->tx_seq);
	frame_mac(w, w->client ? 'c' : 's', out, out + MSG_FRAME_HDR, len, out + MSG_FRAME_HDR + len);
	return len + MSG_FRAME_OVERHEAD;
}

size_t msg_wire_frame_len(const uint8_t hdr[MSG_FRAME_HDR])
{
	uint32_t len = get32(hdr);
	if (len > MSG_DGRAM_MAX)
		return 0;
	return len + MSG_FRAME_OVERHEAD;
}

int msg_wire_open(struct msg_wire *w, const uint8_t *frame, size_t len, const uint8_t **payload,
                  size_t *plen)
{
	uint8_t mac[MSG_MAC_LEN];
	size_t n = len - MSG_FRAME_OVERHEAD;

	frame_mac(w, w->client ? 's' : 'c', frame, frame + MSG_FRAME_HDR, n, mac);
	if (crypto_verify_32(mac, frame + MSG_FRAME_HDR + n) != 0) {
		errno = EACCES;
		return -1;
	}
	/* Checked after the MAC: a replayed frame carries a valid MAC and an old number. */
	if (get64(frame + 4) != w->rx_seq + 1) {
		errno = EALREADY;
		return -1;
	}
	w->rx_seq++;
	*payload = frame + MSG_FRAME_HDR;
	*plen = n;
	return 0;
}
