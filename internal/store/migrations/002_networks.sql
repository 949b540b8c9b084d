-- Network credentials: SMTP submission from these address ranges needs no
-- AUTH and is attributed to the account (Postfix's mynetworks, Postal's IP
-- credentials). Meant for trusted application hosts on a private network.
CREATE TABLE smtp_networks (
	cidr TEXT PRIMARY KEY,
	account TEXT NOT NULL REFERENCES accounts(name),
	created_ms BIGINT NOT NULL
);
