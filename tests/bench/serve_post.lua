-- serve_post.lua: wrk script for serve_bench.sh: every request a POST whose body is the file
-- named by $BODY_FILE (the function's request), as `catload invoke` sends it.
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/octet-stream"
