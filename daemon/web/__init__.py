"""The web app: the admin API over the run history and accounts, health and metrics.

app.py       builds the FastAPI app; mounts the HTTP intake (handlers/api.py)
context.py   what routes need from the daemon, kept on app.state
auth.py      bearer tokens: the admin sees every account, an account only its own
errors.py    every error as {"error": code, "message": text}
unreachable.py  the store out of reach: 503 and Retry-After, JSON or a console page
runs.py      /api/v1/runs …, a run's error CSV and file, retry, undo
accounts.py  /api/v1/accounts …, poll now
refusals.py  /api/v1/refusals: deliveries refused at the door
service.py   /healthz, /metrics
"""
