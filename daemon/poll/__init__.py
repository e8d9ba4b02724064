"""The poller: when each account's FTP home is checked, and the jobs that check it.

windows.py  window arithmetic: weekdays × window × interval + delay → check times
jobs.py     the APScheduler jobs that run those checks in the daemon's loop
expected.py expected files: the check at each account's `expect.by`, alerts and notes
"""
