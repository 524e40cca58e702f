
/*
 * ngx_voicegw_api_report.c
 *
 * Handlers of the VoiceGateway API's reports: /v1/costs, /v1/latency,
 * /v1/logs and /v1/metrics (SPEC sections 5-7).
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_api.h"


ngx_voicegw_api_route_t  ngx_voicegw_api_report_routes[] = {

    { 0, ngx_null_string, NULL, 0 }
};
