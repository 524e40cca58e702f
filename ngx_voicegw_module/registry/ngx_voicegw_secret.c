
/*
 * ngx_voicegw_secret.c
 *
 * Owns the protection of provider API keys.
 *
 * "voicegw_secret PATH;" names a file holding the 32-byte key: raw, or as
 * 64 hex digits, or as base64.  It is read while nginx reads its
 * configuration, so every process has it and no process opens the file
 * again.  A key is stored as "v1:" and the base64 of a random 12-byte
 * nonce, the AES-256-GCM ciphertext and its 16-byte tag; the provider's
 * id is the additional authenticated data, so a ciphertext copied to
 * another provider's row does not decrypt.  Keys never leave this file in
 * clear except to go to the provider itself; the API only ever shows the
 * masked form.
 */


#include "ngx_voicegw_module.h"
#include "ngx_voicegw_registry.h"
#include "ngx_voicegw_secret.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>


#define NGX_VOICEGW_NONCE_LEN  12
#define NGX_VOICEGW_TAG_LEN    16


char *
ngx_voicegw_secret_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_voicegw_main_conf_t  *vmcf = conf;

    ssize_t          n;
    u_char           buf[256];
    ngx_str_t       *value, path;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    if (vmcf->registry->secret != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    path = value[1];

    if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = path;
    file.log = cf->log;

    file.fd = ngx_open_file(path.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &path);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) != NGX_FILE_ERROR
        && (fi.st_mode & (S_IRWXG|S_IRWXO)))
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "voicegw_secret \"%V\" can be read by others "
                           "than its owner (chmod 600)", &path);
    }

    n = ngx_read_file(&file, buf, sizeof(buf), 0);

    ngx_close_file(file.fd);

    vmcf->registry->secret = ngx_pnalloc(cf->pool, NGX_VOICEGW_SECRET_LEN);
    if (vmcf->registry->secret == NULL) {
        return NGX_CONF_ERROR;
    }

    if (n == NGX_ERROR || n == sizeof(buf)
        || ngx_voicegw_secret_parse(buf, n, vmcf->registry->secret) != NGX_OK)
    {
        OPENSSL_cleanse(buf, sizeof(buf));
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "voicegw_secret \"%V\" must hold 32 bytes: raw, "
                           "64 hex digits or base64", &path);
        return NGX_CONF_ERROR;
    }

    OPENSSL_cleanse(buf, sizeof(buf));

    return NGX_CONF_OK;
}


/*
 * The key of the file's text: 32 bytes, or (trailing newlines and spaces
 * aside) 64 hex digits or base64 of 32 bytes.  NGX_ERROR: none of them.
 * No file and no configuration here, so that fuzz/ can call it.
 */

ngx_int_t
ngx_voicegw_secret_parse(u_char *data, size_t len, u_char *key)
{
    u_char     hex[2], b64[64];
    size_t     i;
    ngx_str_t  src, dst;

    if (len == NGX_VOICEGW_SECRET_LEN) {
        ngx_memcpy(key, data, NGX_VOICEGW_SECRET_LEN);
        return NGX_OK;
    }

    /* text forms may end with a newline */

    while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'
                   || data[len - 1] == ' '))
    {
        len--;
    }

    if (len == 2 * NGX_VOICEGW_SECRET_LEN) {
        for (i = 0; i < NGX_VOICEGW_SECRET_LEN; i++) {
            hex[0] = data[2 * i];
            hex[1] = data[2 * i + 1];

            if (ngx_hextoi(hex, 2) == NGX_ERROR) {
                goto base64;
            }

            key[i] = (u_char) ngx_hextoi(hex, 2);
        }

        return NGX_OK;
    }

base64:

    if (ngx_base64_decoded_length(len) > sizeof(b64)) {
        return NGX_ERROR;
    }

    src.data = data;
    src.len = len;
    dst.data = b64;

    if (ngx_decode_base64(&dst, &src) != NGX_OK
        || dst.len != NGX_VOICEGW_SECRET_LEN)
    {
        OPENSSL_cleanse(b64, sizeof(b64));
        return NGX_ERROR;
    }

    ngx_memcpy(key, b64, NGX_VOICEGW_SECRET_LEN);
    OPENSSL_cleanse(b64, sizeof(b64));

    return NGX_OK;
}


ngx_int_t
ngx_voicegw_secret_encrypt(ngx_pool_t *pool, u_char *key, ngx_str_t *aad,
    ngx_str_t *plain, ngx_str_t *out)
{
    int              n, len;
    u_char          *raw, *p;
    ngx_str_t        src;
    ngx_int_t        rc;
    EVP_CIPHER_CTX  *ctx;

    raw = ngx_pnalloc(pool, NGX_VOICEGW_NONCE_LEN + plain->len
                            + NGX_VOICEGW_TAG_LEN);
    if (raw == NULL) {
        return NGX_ERROR;
    }

    if (RAND_bytes(raw, NGX_VOICEGW_NONCE_LEN) != 1) {
        return NGX_ERROR;
    }

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_ERROR;
    p = raw + NGX_VOICEGW_NONCE_LEN;

    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) != 1
        || EVP_EncryptUpdate(ctx, NULL, &n, aad->data, (int) aad->len) != 1
        || EVP_EncryptUpdate(ctx, p, &len, plain->data, (int) plain->len)
           != 1
        || EVP_EncryptFinal_ex(ctx, p + len, &n) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
                               NGX_VOICEGW_TAG_LEN, p + len + n)
           != 1)
    {
        goto done;
    }

    src.data = raw;
    src.len = NGX_VOICEGW_NONCE_LEN + len + n + NGX_VOICEGW_TAG_LEN;

    out->data = ngx_pnalloc(pool, 3 + ngx_base64_encoded_length(src.len));
    if (out->data == NULL) {
        goto done;
    }

    ngx_memcpy(out->data, "v1:", 3);
    out->len = 3;

    {
        ngx_str_t  b64;

        b64.data = out->data + 3;
        ngx_encode_base64(&b64, &src);
        out->len += b64.len;
    }

    rc = NGX_OK;

done:

    EVP_CIPHER_CTX_free(ctx);

    return rc;
}


/* NGX_DECLINED when the text was not sealed by this key for this aad */

ngx_int_t
ngx_voicegw_secret_decrypt(ngx_pool_t *pool, u_char *key, ngx_str_t *aad,
    ngx_str_t *sealed, ngx_str_t *plain)
{
    int              n, len;
    u_char          *raw;
    ngx_str_t        src, dst;
    ngx_int_t        rc;
    EVP_CIPHER_CTX  *ctx;

    if (sealed->len < 3 || ngx_strncmp(sealed->data, "v1:", 3) != 0) {
        return NGX_DECLINED;
    }

    src.data = sealed->data + 3;
    src.len = sealed->len - 3;

    raw = ngx_pnalloc(pool, ngx_base64_decoded_length(src.len) + 1);
    if (raw == NULL) {
        return NGX_ERROR;
    }

    dst.data = raw;

    if (ngx_decode_base64(&dst, &src) != NGX_OK
        || dst.len < NGX_VOICEGW_NONCE_LEN + NGX_VOICEGW_TAG_LEN)
    {
        return NGX_DECLINED;
    }

    len = (int) (dst.len - NGX_VOICEGW_NONCE_LEN - NGX_VOICEGW_TAG_LEN);

    plain->data = ngx_pnalloc(pool, len + 1);
    if (plain->data == NULL) {
        return NGX_ERROR;
    }

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_DECLINED;

    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, raw) == 1
        && EVP_DecryptUpdate(ctx, NULL, &n, aad->data, (int) aad->len) == 1
        && EVP_DecryptUpdate(ctx, plain->data, &n,
                             raw + NGX_VOICEGW_NONCE_LEN, len) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
                               NGX_VOICEGW_TAG_LEN,
                               raw + NGX_VOICEGW_NONCE_LEN + len) == 1
        && EVP_DecryptFinal_ex(ctx, plain->data + n, &len) == 1)
    {
        plain->len = n + len;
        plain->data[plain->len] = '\0';
        rc = NGX_OK;
    }

    EVP_CIPHER_CTX_free(ctx);

    return rc;
}


/*
 * The only form of a key the API shows: empty -> ""; 8 characters or
 * fewer -> that many "*"; else the first 4, "...", the last 4.
 */

void
ngx_voicegw_secret_mask(ngx_pool_t *pool, ngx_str_t *key, ngx_str_t *masked)
{
    u_char  *p;

    if (key->len == 0) {
        ngx_str_set(masked, "");
        return;
    }

    if (key->len <= 8) {
        masked->data = ngx_pnalloc(pool, key->len);
        if (masked->data == NULL) {
            masked->len = 0;
            return;
        }

        ngx_memset(masked->data, '*', key->len);
        masked->len = key->len;
        return;
    }

    p = ngx_pnalloc(pool, 11);
    if (p == NULL) {
        masked->len = 0;
        return;
    }

    masked->data = p;
    p = ngx_cpymem(p, key->data, 4);
    p = ngx_cpymem(p, "...", 3);
    p = ngx_cpymem(p, key->data + key->len - 4, 4);
    masked->len = p - masked->data;
}
