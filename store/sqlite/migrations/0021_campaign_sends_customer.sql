-- The caps of a small audience (a journey's one-customer message) count its
-- customers' sends of the month through this index instead of reading every
-- customer's (store.CampaignStore.CountCampaignSendsOf); erasing a customer
-- deletes their sends through it too.

CREATE INDEX campaign_sends_customer ON campaign_sends (customer_id, at);
