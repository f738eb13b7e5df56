"""SMS through Russian gateways (SMS.ru, SMSC.ru) and Twilio."""
