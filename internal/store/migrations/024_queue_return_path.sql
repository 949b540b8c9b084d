-- Custom MAIL FROM at delivery (issue 16). Owned by package queue.
--
-- return_path_domain is the domain of the entry's VERP return path, decided
-- at acceptance: the custom MAIL FROM domain of the identity that authorised
-- the message when its status was SUCCESS then, else '' (the deployment's
-- return-path domain, --return-path-domain).
ALTER TABLE queue ADD COLUMN return_path_domain TEXT NOT NULL DEFAULT '';
