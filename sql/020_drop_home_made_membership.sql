-- 020: the silos' own membership table goes. Orleans's ADO.NET membership (orleans_membership, migration 019) is the
-- one record of who is in the cluster; each silo reports its load when asked (IManagementGrain's control command),
-- so nothing is written between requests.
DROP TABLE silos;
