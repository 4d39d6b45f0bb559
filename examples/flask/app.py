"""app.py — a Flask app run unchanged as a custom runtime under gunicorn
(Debian packages python3-flask and gunicorn). POST /invoke answers
'hello, <event>'; every other request gets a JSON echo."""
from flask import Flask, jsonify, request

app = Flask(__name__)


def log(what):
    print(f"FC Invoke {what} RequestId: {request.headers.get('x-fc-request-id', '')}", flush=True)


@app.post("/invoke")
def invoke():
    log("Start")
    event = request.get_data(as_text=True)
    body = "hello, " + (event or "world")
    log("End")
    return body


@app.post("/initialize")
def initialize():
    return ""


@app.route("/", defaults={"path": ""}, methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
@app.route("/<path:path>", methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
def echo(path):
    log("Start")
    doc = {
        "method": request.method,
        "path": request.path,
        "query": request.query_string.decode(),
        "headers": {h: request.headers[h] for h in ("x-fc-base-path", "content-type")
                    if h in request.headers},
        "bodyLength": len(request.get_data()),
    }
    log("End")
    return jsonify(doc)
