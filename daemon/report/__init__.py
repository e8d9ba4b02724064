"""Reports: what renkei tells people about runs, by mail.

outbox.py   the durable outbox and the reporter that delivers it through the relay
message.py  one run's report mail, in `report.language`
"""
