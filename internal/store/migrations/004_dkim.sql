-- DKIM signing keys of domain identities (Easy DKIM: generated here;
-- BYODKIM: supplied by the operator). The private key (PKCS #8) is sealed
-- with the data-dir key, bound to "dkim:<account>:<identity>".
CREATE TABLE dkim_keys (
	account TEXT NOT NULL,
	identity TEXT NOT NULL,
	selector TEXT NOT NULL,
	algorithm TEXT NOT NULL,
	origin TEXT NOT NULL,
	key_sealed {{BLOB}} NOT NULL,
	signing_enabled INTEGER NOT NULL DEFAULT 1,
	created_ms BIGINT NOT NULL,
	PRIMARY KEY (account, identity)
);
