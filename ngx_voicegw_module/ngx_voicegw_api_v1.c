
/*
 * ngx_voicegw_api_v1.c
 *
 * Handlers of the VoiceGateway API's entities.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_api.h"


ngx_voicegw_api_route_t  ngx_voicegw_api_v1_routes[] = {

    { 0, ngx_null_string, NULL, 0 }
};
