# report.awk - medians of bench/run.sh's raw figures: a table on stdout,
# markdown in the file named by -v md, JSON in the file named by -v json.
# POSIX awk (Debian's mawk included). Inputs: scenarios.txt (id|label|target),
# then raw.tsv (one line per scenario and round, see record() in run.sh).
# scenarios.txt: id|label|target[|items per request]; target "stampede" and
# "lease" rows come from bench/stampede.c, the others from wrk/redis-benchmark.

function median(s, n, a, i, j, t, k) {
    # s: space-separated numbers
    n = split(s, a, " ")
    if (n == 0) return ""
    for (i = 2; i <= n; i++) {
        t = a[i] + 0
        for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]
        a[j + 1] = t
    }
    k = int((n + 1) / 2)
    return (n % 2) ? a[k] + 0 : (a[k] + a[k + 1]) / 2
}
function maxof(s, n, a, i, m) {
    n = split(s, a, " ")
    if (n == 0) return ""
    m = a[1] + 0
    for (i = 2; i <= n; i++) if (a[i] + 0 > m) m = a[i] + 0
    return m
}
function minof(s, n, a, i, m) {
    n = split(s, a, " ")
    if (n == 0) return ""
    m = a[1] + 0
    for (i = 2; i <= n; i++) if (a[i] + 0 < m) m = a[i] + 0
    return m
}
function add(arr, key, v) { arr[key] = (key in arr) ? arr[key] " " v : v }
function jnum(v, fmt) { return v == "" ? "null" : sprintf(fmt, v) }
function jstr(s) {
    gsub(/\\/, "\\\\", s)
    gsub(/"/, "\\\"", s)
    gsub(/\t/, " ", s)
    return "\"" s "\""
}
function txt(v, fmt) { return v == "" ? "n/a" : sprintf(fmt, v) }
function ms(us) { return us == "" ? "" : us / 1000 }
function mib(kb) { return kb == "" ? "" : kb / 1024 }

FNR == NR {
    split($0, f, "|")
    nsc++
    order[nsc] = f[1]
    label[f[1]] = f[2]
    target[f[1]] = f[3]
    items[f[1]] = (f[4] != "") ? f[4] + 0 : 1
    next
}
{
    id = $1; round = $2
    if ($3 != "ok") {
        if (!(id in note)) note[id] = $14
        next
    }
    if ($14 != "" && !(id in note)) note[id] = $14
    okr[id]++
    if (target[id] == "lease") {
        add(leases, id, $22); add(collapsed, id, $23); add(putsok, id, $24)
        add(putst, id, $25); add(putms, id, $26)
    }
    if (target[id] == "stampede" || target[id] == "lease") {
        add(p50, id, $5); add(p99, id, $6); add(pmax, id, $7)
        add(answered, id, $8); add(s200, id, $17); add(other, id, $18)
        add(failed, id, $19); add(distinct, id, $20); add(wall, id, $15); add(total, id, $16)
        if ($21 != "") add(calls, id, $21)
        if ($8 > 0) add(cpu, id, $11 / tick / $8 * 1000)
        add(rss, id, $13)
        next
    }
    rps_r[id, round] = $4
    add(rps, id, $4); add(p50, id, $5); add(p99, id, $6); add(p999, id, $7)
    reqs[id] += $8; non2xx[id] += $9; sockerr[id] += $10
    if ($8 > 0) {
        add(cpu, id, $11 / tick / $8 * 1000)
        if (target[id] == "service" || target[id] == "redis") add(rcpu, id, $12 / tick / $8 * 1000)
    }
    add(rss, id, $13)
    rounds_of[id] = rounds_of[id] " " round
}
END {
    # Peak RSS: the highest per-run VmHWM of the service under wrk load, and
    # during the stampede (1 000 open connections), likewise for the ceiling.
    svc_peak = svc_peak_st = ceil_peak = ceil_peak_st = ""
    for (i = 1; i <= nsc; i++) {
        id = order[i]
        if (!(id in rss)) continue
        m = maxof(rss[id])
        if (target[id] == "service" && (svc_peak == "" || m > svc_peak)) svc_peak = m
        if (id == "ceiling") ceil_peak = m
        if (id == "reco_stampede") svc_peak_st = m
        if (id == "ceiling_stampede") ceil_peak_st = m
    }
    # Ratios to the ceiling, round by round, then the median.
    for (i = 1; i <= nsc; i++) {
        id = order[i]
        n = split(rounds_of[id], rr, " ")
        for (j = 1; j <= n; j++)
            if ((("ceiling", rr[j]) in rps_r) && rps_r["ceiling", rr[j]] > 0)
                add(ratio, id, rps_r[id, rr[j]] / rps_r["ceiling", rr[j]])
    }

    head = sprintf("normcache benchmark, %s, %s, %s, %d CPUs, commit %s", date, arch, cpumodel, nproc, commit)
    params = sprintf("%d round(s) x %d s, interleaved, medians; wrk -t1 -c%d --latency; %d worker threads", rounds, secs, conns, threads)
    print ""
    print head
    print params
    print ""
    fmt = "%-40s %9s %9s %7s %7s %7s %8s %9s %9s %8s %8s\n"
    printf fmt, "scenario", "req/s", "items/s", "x ceil", "p50 ms", "p99 ms", "p99.9 ms", "CPU s/1k", "Redis s/1k", "peak RSS", "non-2xx"

    print "# normcache benchmark" > md
    print "" > md
    printf "%s · `%s` · %s · %d CPUs · commit `%s`  \n", date, arch, cpumodel, nproc, commit > md
    printf "%d round(s) × %d s per run, interleaved, medians; `wrk -t1 -c%d --latency`; %d worker threads (service and ceiling). " \
        "× ceiling is the median of each round's ratio to that round's ceiling run. CPU is seconds per 1 000 requests " \
        "(utime + stime from /proc) of the process serving the row (the ceiling, Redis or normcache) and of Redis for service rows. " \
        "Peak RSS (MiB) is the serving process's VmHWM during the row's runs (reset before each run). Items/s is req/s × the keys one request reads or writes (20 for `_mget`, else 1). GET miss answers 404 by design, so its non-2xx count is its request count.\n\n", \
        rounds, secs, conns, threads > md
    print "| Scenario | req/s | items/s | × ceiling | p50 ms | p99 ms | p99.9 ms | CPU s / 1k req | Redis CPU s / 1k req | peak RSS MiB | non-2xx | socket errors |" > md
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" > md

    printf "{\n  \"date\": %s,\n  \"machine\": {\"arch\": %s, \"cpu\": %s, \"nproc\": %d, \"kernel\": %s},\n", \
        jstr(date), jstr(arch), jstr(cpumodel), nproc, jstr(kernel) > json
    printf "  \"commit\": %s,\n  \"params\": {\"seconds\": %d, \"rounds\": %d, \"connections\": %d, \"threads\": %d, \"stampede_requests\": %d},\n", \
        jstr(commit), secs, rounds, conns, threads, stampede_n > json
    printf "  \"service\": {\"idle_rss_mib\": %s, \"peak_rss_mib\": %s, \"peak_rss_stampede_mib\": %s},\n", \
        jnum(mib(svc_idle), "%.1f"), jnum(mib(svc_peak), "%.1f"), jnum(mib(svc_peak_st), "%.1f") > json
    printf "  \"ceiling_server\": {\"idle_rss_mib\": %s, \"peak_rss_mib\": %s, \"peak_rss_stampede_mib\": %s},\n", \
        jnum(mib(ceil_idle), "%.1f"), jnum(mib(ceil_peak), "%.1f"), jnum(mib(ceil_peak_st), "%.1f") > json
    printf "  \"scenarios\": [" > json

    first = 1
    for (i = 1; i <= nsc; i++) {
        id = order[i]
        if (target[id] == "stampede" || target[id] == "lease") continue
        printf "%s\n    {\"id\": %s, \"label\": %s, ", (first ? "" : ","), jstr(id), jstr(label[id]) > json
        first = 0
        if (!(id in okr)) {
            printf fmt, label[id], "n/a", "", "", "", "", "", "", "", "", ""
            if (id in note) printf "%-40s (%s)\n", "", note[id]
            printf "| %s | n/a | | | | | | | | | | |\n", label[id] (id in note ? " — " note[id] : "") > md
            printf "\"status\": \"n/a\", \"note\": %s}", jstr(note[id]) > json
            continue
        }
        r = median(rps[id]); x = median(ratio[id])
        a50 = median(p50[id]); a99 = median(p99[id]); a999 = median(p999[id])
        c = median(cpu[id]); rc = (id in rcpu) ? median(rcpu[id]) : ""
        m = maxof(rss[id])
        it = (r == "") ? "" : r * items[id]
        printf fmt, label[id], txt(r, "%.0f"), txt(it, "%.0f"), txt(x, "%.2f"), txt(ms(a50), "%.2f"), txt(ms(a99), "%.2f"), \
            txt(ms(a999), "%.2f"), txt(c, "%.4f"), (target[id] == "service" ? txt(rc, "%.4f") : "-"), \
            txt(mib(m), "%.1f"), non2xx[id] + sockerr[id]
        if (id in note) printf "%-40s (%s)\n", "", note[id]
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d |\n", label[id] (id in note ? " — " note[id] : ""), \
            txt(r, "%.0f"), txt(it, "%.0f"), txt(x, "%.2f"), txt(ms(a50), "%.2f"), txt(ms(a99), "%.2f"), txt(ms(a999), "%.2f"), \
            txt(c, "%.4f"), (target[id] == "service" ? txt(rc, "%.4f") : "–"), txt(mib(m), "%.1f"), \
            non2xx[id], sockerr[id] > md
        printf "\"status\": \"ok\", \"rounds\": %d, \"rps\": %s, \"items_per_request\": %d, \"items_per_s\": %s, \"ratio_to_ceiling\": %s, \"p50_ms\": %s, \"p99_ms\": %s, \"p999_ms\": %s, " \
            "\"cpu_s_per_1k\": %s, \"redis_cpu_s_per_1k\": %s, \"rss_mib\": %s, \"requests\": %d, \"non2xx\": %d, \"socket_errors\": %d, " \
            "\"rps_rounds\": [%s], \"note\": %s}", okr[id], jnum(r, "%.1f"), items[id], jnum(it, "%.1f"), jnum(x, "%.3f"), jnum(ms(a50), "%.3f"), \
            jnum(ms(a99), "%.3f"), jnum(ms(a999), "%.3f"), jnum(c, "%.5f"), \
            jnum(target[id] == "service" ? rc : "", "%.5f"), jnum(mib(m), "%.1f"), reqs[id], non2xx[id], sockerr[id], \
            rps_list(rps[id]), (id in note ? jstr(note[id]) : "null") > json
    }
    printf "\n  ],\n  \"stampedes\": [" > json

    print ""
    sfmt = "%-58s %11s %7s %7s %7s %8s %5s %6s\n"
    printf sfmt, sprintf("stampede: %d concurrent requests on one key", stampede_n), "all done ms", "p50 ms", "p99 ms", "max ms", "upstream", "200s", "bodies"
    print "" > md
    printf "**Stampede**: %d requests sent at once on %d open connections, one key; *all answered* runs from the first request sent to the last response received. " \
        "The ceiling row is the floor: the same %d requests answered with no upstream at all. The recommendations row uses a cold key per round and the stub at 200 ms; " \
        "*upstream calls* is the stub's `GET /stats` count after minus before. " \
        "The connections are opened and used once (a cheap GET) before the timed requests, as a pooled caller's would be.\n\n", stampede_n, stampede_n, stampede_n > md
    print "| Stampede | all answered ms | p50 ms | p99 ms | max ms | upstream calls | 200 answers | distinct bodies |" > md
    print "|---|---:|---:|---:|---:|---:|---:|---:|" > md
    first = 1
    for (i = 1; i <= nsc; i++) {
        id = order[i]
        if (target[id] != "stampede") continue
        printf "%s\n    {\"id\": %s, \"label\": %s, ", (first ? "" : ","), jstr(id), jstr(label[id]) > json
        first = 0
        if (!(id in okr)) {
            printf sfmt, label[id], "n/a", "", "", "", "", "", ""
            if (id in note) printf "%-40s (%s)\n", "", note[id]
            printf "| %s | n/a | | | | | | |\n", label[id] (id in note ? " — " note[id] : "") > md
            printf "\"status\": \"n/a\", \"note\": %s}", jstr(note[id]) > json
            continue
        }
        w = median(wall[id]); t = median(total[id]); cl = (id in calls) ? maxof(calls[id]) : ""
        ok200 = minof(s200[id]); d = maxof(distinct[id]); c = median(cpu[id])
        a50 = median(p50[id]); a99 = median(p99[id]); amax = median(pmax[id])
        printf sfmt, label[id], txt(w, "%.1f"), txt(ms(a50), "%.1f"), txt(ms(a99), "%.1f"), txt(ms(amax), "%.1f"), \
            (cl == "" ? "-" : cl), ok200, d
        if (id in note) printf "%-40s (%s)\n", "", note[id]
        printf "| %s | %s | %s | %s | %s | %s | %d | %d |\n", label[id] (id in note ? " — " note[id] : ""), \
            txt(w, "%.1f"), txt(ms(a50), "%.1f"), txt(ms(a99), "%.1f"), txt(ms(amax), "%.1f"), (cl == "" ? "–" : cl), \
            ok200, d > md
        printf "\"status\": \"ok\", \"rounds\": %d, \"requests\": %d, \"all_answered_ms\": %s, \"all_answered_ms_rounds\": [%s], " \
            "\"total_with_connect_ms\": %s, \"p50_ms\": %s, \"p99_ms\": %s, \"max_ms\": %s, \"upstream_calls_max\": %s, " \
            "\"upstream_calls_rounds\": [%s], \"status_200_min\": %d, \"other_status\": %d, \"failed\": %d, \"distinct_bodies_max\": %d, " \
            "\"cpu_s_per_1k_incl_connect\": %s, \"rss_mib\": %s, \"note\": %s}", okr[id], stampede_n, jnum(w, "%.1f"), rps_list(wall[id]), \
            jnum(t, "%.0f"), jnum(ms(a50), "%.1f"), jnum(ms(a99), "%.1f"), jnum(ms(amax), "%.1f"), jnum(cl, "%d"), \
            rps_list(calls[id]), ok200, maxof(other[id]), maxof(failed[id]), d, jnum(c, "%.5f"), jnum(mib(maxof(rss[id])), "%.1f"), \
            (id in note ? jstr(note[id]) : "null") > json
    }
    printf "\n  ],\n  \"lease_storms\": [" > json

    print ""
    lfmt = "%-58s %6s %6s %7s %7s %11s %7s %7s %7s\n"
    printf lfmt, sprintf("lease storm: %d concurrent acquires on one key", stampede_n), "leases", "200s", "bodies", "PUT", "all done ms", "p50 ms", "p99 ms", "max ms"
    print "" > md
    printf "**Lease storm**: %d `GET /cache/benchlease?q=<cold key>` with `Cache-Lease: acquire` sent at once on %d open connections (opened and used once beforehand, as above). " \
        "The one response carrying a `Cache-Lease` token is the holder: it computes for a simulated 200 ms, then PUTs a 200 B value with its token on its connection; every other caller waits and gets that value. " \
        "*Leases granted* is the count of responses carrying a token (must be 1; the maximum over the rounds), and so the *upstream-equivalent computations*: the LLM calls a fleet of callers would pay for. " \
        "*Waiters answered 200* is the minimum over the rounds (of them marked `detail=collapsed` in brackets); *all answered* runs from the first request sent to the last response received (the holder's 404 included, its PUT not).\n\n", \
        stampede_n, stampede_n > md
    print "| Lease storm | requests | leases granted | upstream-equivalent computations | waiters answered 200 (collapsed) | distinct bodies | PUT with token | all answered ms | p50 ms | p99 ms | max ms |" > md
    print "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|" > md
    first = 1
    for (i = 1; i <= nsc; i++) {
        id = order[i]
        if (target[id] != "lease") continue
        printf "%s\n    {\"id\": %s, \"label\": %s, ", (first ? "" : ","), jstr(id), jstr(label[id]) > json
        first = 0
        if (!(id in okr)) {
            printf lfmt, label[id], "n/a", "", "", "", "", "", "", ""
            if (id in note) printf "%-40s (%s)\n", "", note[id]
            printf "| %s | n/a | | | | | | | | | |\n", label[id] (id in note ? " — " note[id] : "") > md
            printf "\"status\": \"n/a\", \"note\": %s}", jstr(note[id]) > json
            continue
        }
        w = median(wall[id]); lg = maxof(leases[id]); ok200 = minof(s200[id]); col = minof(collapsed[id])
        d = maxof(distinct[id]); pst = maxof(putst[id]); c = median(cpu[id])
        a50 = median(p50[id]); a99 = median(p99[id]); amax = median(pmax[id])
        printf lfmt, label[id], lg, ok200, d, pst, txt(w, "%.1f"), txt(ms(a50), "%.1f"), txt(ms(a99), "%.1f"), txt(ms(amax), "%.1f")
        if (id in note) printf "%-40s (%s)\n", "", note[id]
        printf "| %s | %d | %d | %d | %d (%d) | %d | %s | %s | %s | %s | %s |\n", label[id] (id in note ? " — " note[id] : ""), \
            stampede_n, lg, lg, ok200, col, d, pst, txt(w, "%.1f"), txt(ms(a50), "%.1f"), txt(ms(a99), "%.1f"), txt(ms(amax), "%.1f") > md
        printf "\"status\": \"ok\", \"rounds\": %d, \"requests\": %d, \"leases_granted_max\": %d, \"leases_granted_rounds\": [%s], " \
            "\"upstream_equivalent_computations\": %d, \"waiters_200_min\": %d, \"waiters_collapsed_min\": %d, \"other_status\": %d, " \
            "\"failed\": %d, \"distinct_bodies_max\": %d, \"put_status\": %d, \"puts_ok_min\": %d, \"put_sent_ms\": %s, " \
            "\"all_answered_ms\": %s, \"all_answered_ms_rounds\": [%s], \"total_with_connect_ms\": %s, \"p50_ms\": %s, " \
            "\"p99_ms\": %s, \"max_ms\": %s, \"cpu_s_per_1k_incl_connect\": %s, \"rss_mib\": %s, \"note\": %s}", \
            okr[id], stampede_n, lg, rps_list(leases[id]), lg, ok200, col, maxof(other[id]) - lg, maxof(failed[id]), d, pst, \
            minof(putsok[id]), jnum(median(putms[id]), "%.1f"), jnum(w, "%.1f"), rps_list(wall[id]), \
            jnum(median(total[id]), "%.0f"), jnum(ms(a50), "%.1f"), jnum(ms(a99), "%.1f"), jnum(ms(amax), "%.1f"), \
            jnum(c, "%.5f"), jnum(mib(maxof(rss[id])), "%.1f"), (id in note ? jstr(note[id]) : "null") > json
    }
    printf "\n  ]" > json

    # The access log's cost: GET hit with it on against off, round by round
    # (the two runs of a round are back to back), then the median.
    lr = lc = ""
    n = split(rounds_of["get_hit_200_log"], rr, " ")
    for (j = 1; j <= n; j++)
        if ((("get_hit_200", rr[j]) in rps_r) && rps_r["get_hit_200", rr[j]] > 0)
            add(logratio, "x", sprintf("%.3f", rps_r["get_hit_200_log", rr[j]] / rps_r["get_hit_200", rr[j]]))
    if ("x" in logratio) lr = median(logratio["x"])
    if (("get_hit_200" in cpu) && ("get_hit_200_log" in cpu) && median(cpu["get_hit_200"]) > 0)
        lc = median(cpu["get_hit_200_log"]) / median(cpu["get_hit_200"])
    printf ",\n  \"access_log\": {\"rps_on_over_off\": %s, \"rps_on_over_off_rounds\": [%s], \"cpu_per_request_on_over_off\": %s}\n}\n", \
        jnum(lr, "%.3f"), rps_list(logratio["x"]), jnum(lc, "%.3f") > json
    if (lr != "") {
        line = sprintf("Access log on vs off (GET hit, 200 B): req/s %.3f x (median of the rounds' ratios: %s), service CPU per request %s x", \
            lr, rps_list(logratio["x"]), txt(lc, "%.3f"))
        print ""
        print line
        print "" > md
        print line "." > md
    }

    print ""
    line = sprintf("normcache RSS: idle %s, peak %s under wrk load, %s with %d connections open; ceiling server: idle %s, peak %s, %s with %d connections", \
        txt(mib(svc_idle), "%.1f MiB"), txt(mib(svc_peak), "%.1f MiB"), txt(mib(svc_peak_st), "%.1f MiB"), stampede_n, \
        txt(mib(ceil_idle), "%.1f MiB"), txt(mib(ceil_peak), "%.1f MiB"), txt(mib(ceil_peak_st), "%.1f MiB"), stampede_n)
    print line
    print "" > md
    print line "." > md
    close(md)
    close(json)
}
function rps_list(s, n, a, i, out) {
    n = split(s, a, " ")
    out = ""
    for (i = 1; i <= n; i++) out = out (i > 1 ? ", " : "") a[i]
    return out
}
