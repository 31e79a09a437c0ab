#!/bin/sh
# Example scripted source (as in pmdaopenmetrics(1)): the load averages in
# OpenMetrics text. Gives the metric prometheus.local.system.loadavg with
# instances "0 interval:1-minute", "1 interval:5-minute", "2 interval:15-minute".
awk '{
    print("# HELP loadavg local load average")
    print("# TYPE loadavg gauge")
    printf("loadavg {interval=\"1-minute\"} %.2f\n", $1)
    printf("loadavg {interval=\"5-minute\"} %.2f\n", $2)
    printf("loadavg {interval=\"15-minute\"} %.2f\n", $3)
}' /proc/loadavg
