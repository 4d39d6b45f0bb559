# bench/workerd/config.capnp — workerd serving worker.js (the C backend's
# HTTP-trigger echo) for bench/sync.sh. bench/sync.sh runs
#   workerd serve config.capnp --socket-addr http=127.0.0.1:PORT
# (one process, pinned to the server core); the address below is only the
# default for trying it by hand. Install: cd bench/workerd && npm install.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "echo", worker = .echoWorker) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "echo") ],
);

const echoWorker :Workerd.Worker = (
  modules = [ (name = "worker", esModule = embed "worker.js") ],
  compatibilityDate = "2024-09-23",
);
