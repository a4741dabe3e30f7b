from creditdesk.cli import app

app()
