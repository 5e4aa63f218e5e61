import { Catch, type RpcExceptionFilter } from '@nestjs/common';
import { throwError, type Observable } from 'rxjs';

/**
 * Nest's default RPC filter turns every non-RpcException into "Internal server error", losing the
 * domain error's code. Register this one globally (`app.useGlobalFilters(new BusExceptionFilter())`)
 * so BusServer sees the original error: its `code` goes back to the requester, and its message
 * into the DLQ reason of an event.
 */
@Catch()
export class BusExceptionFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}
