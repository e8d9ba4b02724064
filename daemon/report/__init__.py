"""Reports: what renkei tells people about runs, by mail.

outbox.py   the durable outbox and the reporter that delivers it through the relay
message.py  one run's report mail, in `report.language`
alerts.py   admin alerts to `report.admin_to`, once per cause until it clears
expected.py the 未着のお知らせ and 届きました mails of expected files
"""
